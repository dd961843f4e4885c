"""The whole linking story on loopback: the dev tenant, linker, and a scripted application.

`run_stack` serves the dev tenant (which runs the real Action in Node) and linker, each on
its own loopback address. `Stack` plays the application (client `demo-app`, or `other-app`
which linker does not allow): it signs users in, sends them to link or unlink, and redeems
the code it gets back, exactly as an app would; it also reads and scripts the tenant through
its admin routes. The browser is `linker.testing.ScriptedBrowser`. The pytest fixtures over
this are in `linker.testing.pytest_plugin`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette

from linker import Settings, create_app
from linker.client import (
    LinkRequest,
    build_authorize_url,
    build_link_url,
    random_token,
    s256_challenge,
)
from linker.devtenant import DevTenantConfig, bundled_seed_data, create_dev_tenant, load_seed
from linker.testing.browser import ScriptedBrowser
from linker.testing.clock import FakeClock
from linker.testing.servers import ServerThread, free_port
from linker.testing.urls import query_of

APP_CALLBACK = "http://localhost:9/callback"  # never served: the browser stops there
APP_SECRETS = {
    "demo-app": "demo-app-secret-change-me-0123456789",
    "other-app": "other-app-secret-0123456789-0123456789",
}
ACTION_SECRET = "e2e-action-secret-0123456789-0123456789"  # the Action's and linker's
LINKER_CLIENT_SECRET = "linker-secret-change-me-0123456789"  # the bundled seed's
TENANT_HOST, LINKER_HOST = "127.0.0.1", "127.0.0.2"


def stack_seed(linker_url: str) -> dict[str, Any]:
    """The dev tenant's bundled seed, with `demo-app` calling back to `APP_CALLBACK`, every
    other client to linker at `linker_url`, and `other-app`, a client linker does not allow."""
    seed = bundled_seed_data()
    for client in seed["clients"]:
        client["callbacks"] = (
            [APP_CALLBACK] if client["client_id"] == "demo-app" else [f"{linker_url}/link/callback"]
        )
    seed["clients"].append(
        {
            "client_id": "other-app",
            "name": "An app linker does not allow",
            "client_secret": APP_SECRETS["other-app"],
            "callbacks": [APP_CALLBACK],
            "management_scopes": [],
        }
    )
    return seed


def stack_tenant(tenant_url: str, linker_url: str) -> Starlette:
    """The dev tenant at `tenant_url`, its Action sending users to (and committing at) linker
    at `linker_url`, with its admin routes on."""
    return create_dev_tenant(
        DevTenantConfig(
            base_url=tenant_url,
            seed=load_seed(stack_seed(linker_url)),
            action_secrets={
                "LINKER_URL": linker_url,
                "LINKER_ACTION_SECRET": ACTION_SECRET,
                "LINKER_CLIENT_ID": "linker",
            },
            admin=True,
        )
    )


def linker_env(tenant_url: str, linker_url: str, **extra: str) -> dict[str, str]:
    """The settings (as environment variables) of linker at `linker_url` for that tenant."""
    return {
        "LINKER_AUTH0_DOMAIN": urlsplit(tenant_url).netloc,
        "LINKER_TENANT_SCHEME": "http",
        "LINKER_CLIENT_ID": "linker",
        "LINKER_CLIENT_SECRET": LINKER_CLIENT_SECRET,
        "LINKER_ACTION_SECRETS": ACTION_SECRET,
        "LINKER_PUBLIC_URL": linker_url,
        "LINKER_ALLOWED_CLIENT_IDS": "demo-app",
        **extra,
    }


@contextmanager
def run_stack(audit_file: Path, **env: str) -> Iterator[Stack]:
    """Serve the dev tenant and linker (which allows `demo-app` only, writes its audit to
    `audit_file`, and runs on a `FakeClock` over real time) until the block ends; `env`
    overrides linker's settings."""
    tenant_port, linker_port = free_port(TENANT_HOST), free_port(LINKER_HOST)
    tenant_url = f"http://{TENANT_HOST}:{tenant_port}"
    linker_url = f"http://{LINKER_HOST}:{linker_port}"
    settings = Settings.from_env(
        linker_env(
            tenant_url,
            linker_url,
            LINKER_ALLOWED_CLIENT_IDS="demo-app",
            LINKER_AUDIT_FILE=str(audit_file),
            LINKER_UPSTREAM_BUDGET="3",
            **env,
        )
    )
    clock = FakeClock(real_time=True)
    linker = create_app(settings, clock=clock)
    with (
        ServerThread(stack_tenant(tenant_url, linker_url), host=TENANT_HOST, port=tenant_port),
        ServerThread(linker, host=LINKER_HOST, port=linker_port),
    ):
        stack = Stack(tenant_url, linker_url, clock, audit_file, linker)
        try:
            yield stack
        finally:
            stack.admin.close()


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified: the tests only read what the tenant issued to them."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return decoded


@dataclass
class Tokens:
    id_token: str
    refresh_token: str | None
    claims: dict[str, Any]


@dataclass
class Outcome:
    """Where the application ended: an ID token with a link result, or an error."""

    page: httpx.Response
    error: str | None = None
    error_description: str | None = None
    tokens: Tokens | None = None

    @property
    def link_result(self) -> dict[str, Any] | None:
        assert self.tokens is not None, f"no tokens: {self.error}: {self.error_description}"
        result: dict[str, Any] | None = self.tokens.claims.get("https://linker/link_result")
        return result

    @property
    def code(self) -> str | None:
        """The contract's error code, read from `error_description` (`code: text`)."""
        if self.error_description is None:
            return None
        return self.error_description.split(":", 1)[0]


@dataclass
class Stack:
    """The dev tenant at `tenant_url` and linker at `linker_url`, as an application and the
    tenant's administrator see them."""

    tenant_url: str
    linker_url: str
    linker_clock: FakeClock
    audit_file: Path
    linker_app: Starlette | None = None  # None when linker runs in another process
    admin: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.admin = httpx.Client(base_url=self.tenant_url, timeout=20)

    @property
    def domain(self) -> str:
        return urlsplit(self.tenant_url).netloc

    # -- the tenant's admin surface --------------------------------------------------------

    def reset(self) -> None:
        """The tenant back at its seed: users, sessions, codes, faults and its request log."""
        self.admin.post("/__admin/reset").raise_for_status()

    def rewind(self) -> None:
        """Move both clocks back to real time, undoing every `advance`."""
        if self.linker_clock.offset:
            self.advance(-self.linker_clock.offset)

    def user(self, user_id: str) -> dict[str, Any] | None:
        response = self.admin.get(f"/__admin/users/{user_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def identities(self, user_id: str) -> list[str]:
        user = self.user(user_id)
        assert user is not None
        return [f"{i['provider']}|{i['user_id']}" for i in user["identities"]]

    def fault(self, **rule: Any) -> None:
        self.admin.post("/__admin/faults", json=rule).raise_for_status()

    def requests(self, method: str, path: str) -> int:
        answer = self.admin.get("/__admin/requests", params={"method": method, "path": path})
        count: int = answer.json()["count"]
        return count

    def advance(self, seconds: float) -> None:
        """Move the tenant's and linker's clocks together."""
        self.admin.post("/__admin/clock", json={"advance": seconds}).raise_for_status()
        self.linker_clock.offset += seconds

    def audit_lines(self) -> list[dict[str, Any]]:
        if not self.audit_file.exists():
            return []
        return [json.loads(line) for line in self.audit_file.read_text().splitlines()]

    # -- the application -------------------------------------------------------------------

    def browser(self) -> ScriptedBrowser:
        return ScriptedBrowser(stop_at=APP_CALLBACK)

    def sign_in(
        self, browser: ScriptedBrowser, user_id: str, *, client_id: str = "demo-app"
    ) -> Tokens:
        verifier = random_token()
        url = build_authorize_url(
            f"{self.tenant_url}/authorize",
            client_id=client_id,
            redirect_uri=APP_CALLBACK,
            scope="openid profile email offline_access",
            state=random_token(),
            nonce=random_token(),
            code_challenge=s256_challenge(verifier),
        )
        browser.get(url)
        browser.submit(browser.form_with(connection=self.connection_of(user_id)))
        outcome = self.finish(
            browser, browser.submit(browser.form_with(user_id=user_id)), verifier, client_id
        )
        assert outcome.tokens is not None, outcome.error_description
        return outcome.tokens

    def connection_of(self, user_id: str) -> str:
        provider = user_id.split("|", 1)[0]
        return "Username-Password-Authentication" if provider == "auth0" else provider

    def start_link(
        self,
        browser: ScriptedBrowser,
        hint: str,
        connection: str,
        *,
        action: str = "link",
        client_id: str = "demo-app",
        connection_scope: str | None = None,
        requested_identity: str | None = None,
    ) -> tuple[LinkRequest, httpx.Response]:
        """Send the user to `/authorize` to link; returns the request and the page reached."""
        request = build_link_url(
            domain=self.domain,
            scheme="http",
            client_id=client_id,
            redirect_uri=APP_CALLBACK,
            connection=connection,
            id_token_hint=hint,
            connection_scope=connection_scope,
            action=action,
            requested_identity=requested_identity,
        )
        return request, browser.get(request.url)

    def link(
        self,
        browser: ScriptedBrowser,
        hint: str,
        connection: str,
        choose: str | None,
        *,
        client_id: str = "demo-app",
        **options: Any,
    ) -> Outcome:
        """The whole attempt: start, sign in as `choose` at the nested login, resume."""
        request, page = self.start_link(browser, hint, connection, client_id=client_id, **options)
        if choose is not None and page.status_code == 200 and 'name="user_id"' in page.text:
            page = browser.submit(browser.form_with(user_id=choose))
        return self.resume(browser, page, request.code_verifier, client_id)

    def resume(
        self, browser: ScriptedBrowser, page: httpx.Response, verifier: str, client_id: str
    ) -> Outcome:
        """Press Link on the page that shows the account (if on it), run linker's auto-POST to
        `/continue` (if on that page) and redeem the result."""
        if page.status_code == 200 and 'name="choice"' in page.text:
            page = browser.submit(browser.form_with(choice="link"))
        if page.status_code == 200 and "/continue" in page.text:
            page = browser.auto_submit()
        return self.finish(browser, page, verifier, client_id)

    def finish(
        self, browser: ScriptedBrowser, page: httpx.Response, verifier: str, client_id: str
    ) -> Outcome:
        location = page.headers.get("location", "")
        if not location.startswith(APP_CALLBACK):
            return Outcome(page=page)
        params = query_of(location)
        if "error" in params:
            return Outcome(page, params["error"], params.get("error_description"))
        answer = httpx.post(
            f"{self.tenant_url}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "client_id": client_id,
                "client_secret": APP_SECRETS[client_id],
                "code": params["code"],
                "code_verifier": verifier,
                "redirect_uri": APP_CALLBACK,
            },
        )
        answer.raise_for_status()
        body = answer.json()
        tokens = Tokens(body["id_token"], body.get("refresh_token"), claims_of(body["id_token"]))
        return Outcome(page, tokens=tokens)
