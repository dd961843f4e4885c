"""The whole linking story on loopback: the dev tenant, linker, and a scripted application.

`run_stack(config)` serves the dev tenant (which runs the real Action in Node) and linker, the
tenant at `localhost` and linker at `127.0.0.1` (two names every system resolves, so the
browser keeps their cookies apart with no loopback alias), both on ports from the OS. The
`StackConfig` (`linker.testing.config`) says which clients, connections and users the tenant
holds and how linker is set; without one it is the bundled seed with linker allowing
`demo-app`.

`Stack` is what a test holds: the URLs, the tenant's admin routes (`reset` back to the
configured seed and linker's empty store, `use_seed` / `add_user` for one test, `fault`,
`advance`, `user`), and a scripted application: it signs users in, sends them to link or
unlink, and redeems the code it gets back, as `demo-app` (or `other-app`, which linker does not
allow) or as one of your clients. `log_in` plays the user at the tenant's login page when your
own application drives the flow. The pytest fixtures over this are in
`linker.testing.pytest_plugin`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette

from linker import MemoryStore, Settings, SettingsError, Store, create_app
from linker.client import (
    LinkRequest,
    build_authorize_url,
    build_link_url,
    random_token,
    s256_challenge,
)
from linker.devtenant import DevTenantConfig, SeedError, create_dev_tenant, load_seed
from linker.testing.browser import ScriptedBrowser
from linker.testing.clock import FakeClock
from linker.testing.config import COMPANION_CLIENT, ConfigError, StackConfig, TenantSeed
from linker.testing.node import node_problem
from linker.testing.servers import ServerThread, StartError
from linker.testing.urls import query_of

APP_CALLBACK = "http://localhost:9/callback"  # never served: the browser stops there
APP_SECRETS = {
    "demo-app": "demo-app-secret-change-me-0123456789",
    "other-app": "other-app-secret-0123456789-0123456789",
}
ACTION_SECRET = "e2e-action-secret-0123456789-0123456789"  # the Action's and linker's
LINKER_CLIENT_SECRET = "linker-secret-change-me-0123456789"  # the bundled seed's
TENANT_HOST, LINKER_HOST = "localhost", "127.0.0.1"
BIND_HOST = "127.0.0.1"  # what linker listens on; the tenant listens on every `localhost`


def stack_seed(
    linker_url: str, config: StackConfig | None = None, seed: TenantSeed | None = None
) -> dict[str, Any]:
    """The seed JSON the stack serves: `seed` (default: the config's) with linker's client
    calling back to linker at `linker_url`, the config's clients, `other-app` (a client linker
    does not allow), and every client without callbacks calling back to `APP_CALLBACK`
    (`demo-app`) or to linker."""
    config = config or StackConfig()
    data = (seed or config.seed).data()
    linker_callback = f"{linker_url}/link/callback"
    clients = [c for c in data["clients"] if c.get("client_id") != COMPANION_CLIENT]
    companion = next(
        (c for c in data["clients"] if c.get("client_id") == COMPANION_CLIENT),
        {
            "client_id": COMPANION_CLIENT,
            "name": "Account linking (linker)",
            "client_secret": LINKER_CLIENT_SECRET,
            "management_scopes": ["read:users", "update:users"],
        },
    )
    companion["callbacks"] = [linker_callback]
    for client in clients:
        if not client.get("callbacks"):
            demo = client["client_id"] == "demo-app"
            client["callbacks"] = [APP_CALLBACK] if demo else [linker_callback]
    if not any(c.get("client_id") == "other-app" for c in clients):
        clients.append(
            {
                "client_id": "other-app",
                "name": "An app linker does not allow",
                "client_secret": APP_SECRETS["other-app"],
                "callbacks": [APP_CALLBACK],
                "management_scopes": [],
            }
        )
    own = {c.client_id: c.seed_entry() for c in config.clients}
    data["clients"] = [
        companion,
        *(c for c in clients if c["client_id"] not in own),
        *own.values(),
    ]
    return data


def stack_tenant(tenant_url: str, linker_url: str, config: StackConfig | None = None) -> Starlette:
    """The dev tenant at `tenant_url`, its Action sending users to (and committing at) linker
    at `linker_url`, with its admin routes on."""
    return create_dev_tenant(
        DevTenantConfig(
            base_url=tenant_url,
            seed=load_seed(stack_seed(linker_url, config)),
            action_secrets={
                "LINKER_URL": linker_url,
                "LINKER_ACTION_SECRET": ACTION_SECRET,
                "LINKER_CLIENT_ID": COMPANION_CLIENT,
            },
            admin=True,
        )
    )


def linker_env(tenant_url: str, linker_url: str, **extra: str) -> dict[str, str]:
    """The settings (as environment variables) of linker at `linker_url` for that tenant."""
    return {
        "LINKER_AUTH0_DOMAIN": urlsplit(tenant_url).netloc,
        "LINKER_TENANT_SCHEME": "http",
        "LINKER_CLIENT_ID": COMPANION_CLIENT,
        "LINKER_CLIENT_SECRET": LINKER_CLIENT_SECRET,
        "LINKER_ACTION_SECRETS": ACTION_SECRET,
        "LINKER_PUBLIC_URL": linker_url,
        "LINKER_ALLOWED_CLIENT_IDS": "demo-app",
        **extra,
    }


def stack_env(
    config: StackConfig, tenant_url: str, linker_url: str, audit_file: Path
) -> dict[str, str]:
    """linker's settings in the stack: the config's linker options over the stack's defaults
    (an audit file, a short upstream budget)."""
    companion = next(
        c for c in stack_seed(linker_url, config)["clients"] if c["client_id"] == COMPANION_CLIENT
    )
    return {
        **linker_env(tenant_url, linker_url),
        "LINKER_CLIENT_SECRET": str(companion.get("client_secret", LINKER_CLIENT_SECRET)),
        "LINKER_ALLOWED_CLIENT_IDS": ",".join(config.allowed_clients),
        "LINKER_REQUIRE_SAME_EMAIL": "true" if config.linker.require_same_email else "false",
        "LINKER_AUDIT_FILE": str(audit_file),
        "LINKER_UPSTREAM_BUDGET": "3",
        **config.linker.env,
    }


class FreshStore:
    """linker's memory store, emptied by `clear()` between tests (every other call goes to a
    `MemoryStore`, so the service sees the store it always has)."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.inner = MemoryStore(clock=clock)

    def clear(self) -> None:
        self.inner = MemoryStore(clock=self._clock)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@contextmanager
def run_stack(
    config: StackConfig | None = None,
    *,
    env: Mapping[str, str] | None = None,
    audit_file: Path | None = None,
    tenant_port: int = 0,
    linker_port: int = 0,
    listen: str | None = None,
) -> Iterator[Stack]:
    """Serve the dev tenant and linker for `config` until the block ends.

    linker runs in this process on a `FakeClock` over real time, writes its audit to
    `audit_file` (default: a file in a temporary folder removed afterwards); `env` (`LINKER_*`
    names) wins over every setting the stack and the config make. Ports 0 come from the OS.
    `listen` is the address both listen on (default: loopback only), for a container whose
    ports are published under the same numbers: the URLs keep their names.
    Raises `StartError` with one line when something cannot start: no Node.js or one too old,
    a port that cannot be bound, a bad setting or configuration.
    """
    config = config or StackConfig()
    problem = node_problem()
    if problem is not None:
        raise StartError(problem)
    scratch = None
    if audit_file is None:
        scratch = Path(tempfile.mkdtemp(prefix="linker-stack-"))
        audit_file = scratch / "audit.jsonl"
    try:
        with ExitStack() as servers:
            # The sockets are bound first: their ports go into the URLs, seed and settings.
            tenant_server = ServerThread(
                None, host=listen or TENANT_HOST, port=tenant_port, name=TENANT_HOST
            )
            servers.callback(tenant_server.stop)
            linker_server = ServerThread(
                None, host=listen or BIND_HOST, port=linker_port, name=LINKER_HOST
            )
            servers.callback(linker_server.stop)
            tenant_url, linker_url = tenant_server.url, linker_server.url
            try:
                config.check()
                settings = Settings.from_env(
                    {**stack_env(config, tenant_url, linker_url, audit_file), **(env or {})}
                )
                tenant_server.app = stack_tenant(tenant_url, linker_url, config)
            except (ConfigError, SeedError, SettingsError) as exc:
                raise StartError(f"bad stack configuration: {exc}") from None
            clock = FakeClock(real_time=True)
            memory = settings.store_url.reveal().startswith("memory")
            store = FreshStore(clock) if memory else None
            linker = create_app(settings, clock=clock, store=cast(Store, store) if store else None)
            linker_server.app = linker
            # The tenant's reset empties linker too, for suites that reset over HTTP.
            tenant_server.app = _resetting_linker(tenant_server.app, store, audit_file)
            tenant_server.start()
            linker_server.start()
            stack = Stack(tenant_url, linker_url, clock, audit_file, linker, config, store)
            try:
                yield stack
            finally:
                stack.admin.close()
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _resetting_linker(tenant: Any, store: FreshStore | None, audit_file: Path) -> Any:
    """The tenant's app, whose `POST /__admin/reset` also empties linker's memory store and
    its audit file: the state of both is the session's start again."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if (scope["type"], scope.get("method"), scope.get("path")) == (
            "http",
            "POST",
            "/__admin/reset",
        ):
            if store is not None:
                store.clear()
            await asyncio.to_thread(_empty, audit_file)
        await tenant(scope, receive, send)

    return app


def _empty(path: Path) -> None:
    if path.exists():
        path.write_text("")


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
    config: StackConfig = field(default_factory=StackConfig)
    linker_store: FreshStore | None = None  # linker's memory store, emptied by `reset`
    admin: httpx.Client = field(init=False)
    _seed: TenantSeed | None = field(init=False, default=None)  # this test's, when it set one

    def __post_init__(self) -> None:
        self.admin = httpx.Client(base_url=self.tenant_url, timeout=20)

    @property
    def domain(self) -> str:
        """The tenant's domain (`host:port`), what an app's `AUTH0_DOMAIN` would be."""
        return urlsplit(self.tenant_url).netloc

    @property
    def seed(self) -> TenantSeed:
        """The seed in use: the configured one, or what this test put in its place."""
        return self._seed or self.config.seed

    # -- the tenant's admin surface --------------------------------------------------------

    def reset(self) -> None:
        """Back to the session's start: the tenant at the configured seed (users, sessions,
        codes, faults, its request log), linker's store empty, its audit file emptied (the
        stack's `POST /__admin/reset` does all three)."""
        self.admin.post("/__admin/reset").raise_for_status()
        self._seed = None

    def use_seed(self, seed: TenantSeed) -> None:
        """Serve `seed` (plus your clients and linker's) until the next `reset`: for one test."""
        data = stack_seed(self.linker_url, self.config, seed)
        answer = self.admin.post("/__admin/seed", json=data)
        if answer.status_code != 200:
            raise ConfigError(answer.json().get("error_description", answer.text))
        self._seed = seed.copy()

    def add_user(self, **profile: Any) -> str:
        """A user for this test only (the arguments of `TenantSeed.add_user`); returns the id.

        It re-seeds the tenant, so add users before the test's flows begin."""
        seed = self.seed.copy()
        user_id = seed.add_user(**profile)
        self.use_seed(seed)
        return user_id

    def rewind(self) -> None:
        """Move both clocks back to real time, undoing every `advance`."""
        if self.linker_clock.offset:
            self.advance(-self.linker_clock.offset)

    def user(self, user_id: str) -> dict[str, Any] | None:
        """The user as the Management API shows them (plus `granted_scopes` per identity),
        or None when there is no such user (a secondary linked away)."""
        response = self.admin.get(f"/__admin/users/{user_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def identities(self, user_id: str) -> list[str]:
        user = self.user(user_id)
        assert user is not None, f"no user {user_id}"
        return [f"{i['provider']}|{i['user_id']}" for i in user["identities"]]

    def fault(self, **rule: Any) -> None:
        """Add a fault rule (`method`, `path` regex, `kind`, `status`, `times`, ...)."""
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

    # -- the user, when your application drives the flow -----------------------------------

    def log_in(self, browser: ScriptedBrowser, user_id: str) -> httpx.Response:
        """Play the user on the tenant's login page the browser is on: choose `user_id`'s
        connection (when asked), then that account; then, when it was linker's nested login,
        take the browser back through linker to the tenant. Returns the page it ends on
        (with a browser that follows every redirect: your application's page)."""
        page = browser.page
        assert page is not None, "the browser has not opened a page"
        if 'name="user_id"' not in page.text and 'name="connection"' in page.text:
            browser.submit(browser.form_with(connection=self.connection_of(user_id)))
        return self.through_linker(browser, browser.submit(browser.form_with(user_id=user_id)))

    def confirm(self, browser: ScriptedBrowser, choice: str = "link") -> httpx.Response:
        """Press Link (or Cancel, `choice="cancel"`) on linker's page that shows the account
        about to be linked, then follow the browser back to the tenant and on, as `log_in`
        does. Returns the page it ends on."""
        return self.through_linker(browser, browser.submit(browser.form_with(choice=choice)))

    def through_linker(self, browser: ScriptedBrowser, page: httpx.Response) -> httpx.Response:
        """Run linker's auto-POST back to the tenant's `/continue`, if the browser is on it."""
        while page.status_code == 200 and "/continue" in page.text and len(browser.forms) == 1:
            page = browser.auto_submit()
        return page

    # -- the application -------------------------------------------------------------------

    def browser(self, client_id: str = "demo-app") -> ScriptedBrowser:
        """A browser that stops at `client_id`'s callback, where this class redeems the code."""
        return ScriptedBrowser(stop_at=self.callback_of(client_id))

    def callback_of(self, client_id: str) -> str:
        client = self.config.client(client_id)
        if client is None:
            return APP_CALLBACK
        assert client.callbacks, f"client {client_id} has no callback URL"
        return client.callbacks[0]

    def secret_of(self, client_id: str) -> str | None:
        """The client's secret (None for a public client)."""
        client = self.config.client(client_id)
        if client is not None:
            return client.secret
        for entry in self.seed.data()["clients"]:
            if entry["client_id"] == client_id:
                return cast(str | None, entry.get("client_secret"))
        return APP_SECRETS.get(client_id)

    def sign_in(
        self, browser: ScriptedBrowser, user_id: str, *, client_id: str = "demo-app"
    ) -> Tokens:
        verifier = random_token()
        url = build_authorize_url(
            f"{self.tenant_url}/authorize",
            client_id=client_id,
            redirect_uri=self.callback_of(client_id),
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
        """The connection a user (or linked identity) `provider|id` signs in at."""
        provider, _, local = user_id.partition("|")
        data = self.seed.data()
        strategies = {c["name"]: c.get("strategy", c["name"]) for c in data["connections"]}
        for user in data["users"]:
            for identity in user.get("identities", []):
                name = identity["connection"]
                if identity["user_id"] == local and strategies.get(name) == provider:
                    return str(name)
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
            redirect_uri=self.callback_of(client_id),
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
        callback = self.callback_of(client_id)
        if not location.startswith(callback):
            return Outcome(page=page)
        params = query_of(location)
        if "error" in params:
            return Outcome(page, params["error"], params.get("error_description"))
        form = {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": params["code"],
            "code_verifier": verifier,
            "redirect_uri": callback,
        }
        secret = self.secret_of(client_id)
        if secret is not None:
            form["client_secret"] = secret
        answer = httpx.post(f"{self.tenant_url}/oauth/token", data=form)
        answer.raise_for_status()
        body = answer.json()
        tokens = Tokens(body["id_token"], body.get("refresh_token"), claims_of(body["id_token"]))
        return Outcome(page, tokens=tokens)
