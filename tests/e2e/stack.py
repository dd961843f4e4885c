"""The whole linking story on loopback: dev tenant, linker, and a scripted application.

`Stack` plays the application (client `demo-app`, or `other-app` which linker does not
allow): it signs users in, sends them to link or unlink, and redeems the code it gets back,
exactly as an app would. The browser is `linker.testing.ScriptedBrowser`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from linker.client import (
    LinkRequest,
    build_authorize_url,
    build_link_url,
    random_token,
    s256_challenge,
)
from linker.testing import FakeClock, ScriptedBrowser, query_of

APP_CALLBACK = "http://localhost:9/callback"  # never served: the browser stops there
APP_SECRETS = {
    "demo-app": "demo-app-secret-change-me-0123456789",
    "other-app": "other-app-secret-0123456789-0123456789",
}


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
    tenant_url: str
    linker_url: str
    linker_app: Any
    linker_clock: FakeClock
    audit_file: Path
    admin: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.admin = httpx.Client(base_url=self.tenant_url, timeout=20)

    @property
    def domain(self) -> str:
        return urlsplit(self.tenant_url).netloc

    # -- the tenant's admin surface --------------------------------------------------------

    def reset(self) -> None:
        self.admin.post("/__admin/reset").raise_for_status()

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
        """Run linker's auto-POST to `/continue` (if on that page) and redeem the result."""
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
