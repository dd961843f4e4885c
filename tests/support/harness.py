"""Drives the service through its public routes with the tenant faked in-process."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html import unescape
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey
from starlette.applications import Starlette

from linker.app import create_app
from linker.runtime import Runtime
from linker.settings import Settings
from linker.state.store import Store
from linker.steps.reconcile import Report
from linker.tenant.upstream import Retrier
from linker.testing import FakeClock, query_of
from tests.support.fake_tenant import APP_CLIENT, DOMAIN, FakeTenant
from tests.support.httpx_upstream import HttpxUpstream

SECRET = "s" * 40
OLD_SECRET = "o" * 40
PUBLIC_URL = "https://linker.test"
PRIMARY = "google-oauth2|alice"
SECONDARY = "github|1001"


def settings_env(**overrides: str) -> dict[str, str]:
    env = {
        "LINKER_AUTH0_DOMAIN": DOMAIN,
        "LINKER_CLIENT_ID": "linker-client",
        "LINKER_CLIENT_SECRET": "linker-client-secret",
        "LINKER_ACTION_SECRETS": f"{SECRET},{OLD_SECRET}",
        "LINKER_PUBLIC_URL": PUBLIC_URL,
        "LINKER_ALLOWED_CLIENT_IDS": APP_CLIENT,
    }
    env.update(overrides)
    return env


def make_settings(**overrides: str) -> Settings:
    return Settings.from_env(settings_env(**overrides))


def hs256(
    claims: dict[str, Any],
    secret: str = SECRET,
    header: dict[str, Any] | None = None,
    *,
    alg: str = "HS256",
) -> str:
    """Sign as the Action does (HS-family JWT); `header` and `alg` let attack tests vary it."""
    header = header or {"alg": alg, "typ": "JWT"}
    return jwt.encode(header, claims, OctKey.import_key(secret), algorithms=[header["alg"]])


def read_hs256(token: str, secret: str = SECRET) -> dict[str, Any]:
    """The claims of an HS256 token linker or the Action signed, signature checked."""
    return dict(jwt.decode(token, OctKey.import_key(secret), algorithms=["HS256"]).claims)


@dataclass
class Resumed:
    """The auto-POST resume page, read back."""

    action: str
    state: str
    session_token: str
    claims: dict[str, Any]

    @property
    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = self.claims["result"]
        return result

    @property
    def status(self) -> str:
        return str(self.result["status"])

    @property
    def error(self) -> str | None:
        return self.result["error"]  # type: ignore[no-any-return]

    @property
    def commit(self) -> str:
        return str(self.claims["commit"])


@dataclass
class Linked:
    """A whole attempt: the callback's resume page, then (when pending) the Action's commit."""

    callback: httpx.Response
    resumed: Resumed
    committed: httpx.Response | None

    @property
    def result(self) -> dict[str, Any]:
        if self.committed is None:
            return self.resumed.result
        assert self.committed.status_code == 200, self.committed.text
        answer: dict[str, Any] = self.committed.json()
        return answer

    @property
    def status(self) -> str:
        return str(self.result["status"])

    @property
    def error(self) -> str | None:
        return self.result["error"]  # type: ignore[no-any-return]


def read_resume(response: httpx.Response) -> Resumed:
    assert response.status_code == 200, response.text
    html = response.text
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', html)[1])  # type: ignore[index]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    token = unescape(fields["session_token"])
    claims = read_hs256(token)
    return Resumed(action, unescape(fields["state"]), token, claims)


def is_confirm_page(response: httpx.Response) -> bool:
    return response.status_code == 200 and 'name="choice"' in response.text


def confirm_fields(page: httpx.Response, choice: str) -> dict[str, str]:
    """The fields of the page's form for `choice` (link or cancel)."""
    for form in re.findall(r"<form [^>]*>(.*?)</form>", page.text):
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
        if fields.get("choice") == choice:
            return {name: unescape(value) for name, value in fields.items()}
    raise AssertionError(f"no {choice} form on the page")


ALICE_USER = {
    "email": "alice@example.com",
    "email_verified": True,
    "identities": [
        {
            "provider": "google-oauth2",
            "user_id": "alice",
            "connection": "google-oauth2",
            "isSocial": True,
        }
    ],
}


def start_claims(*, now: int, hint: str, **overrides: Any) -> dict[str, Any]:
    """A start token's claims as the shim makes them (Alice links GitHub, unless overridden);
    an override of None leaves the claim out."""
    claims = {
        "sub": PRIMARY,
        "iss": DOMAIN,
        "iat": now,
        "exp": now + 300,
        "ip": "127.0.0.1",
        "linker_v": 2,
        "jti": secrets.token_urlsafe(12),
        "action": "link",
        "client_id": APP_CLIENT,
        "requested_connection": "github",
        "id_token_hint": hint,
        "user": json.loads(json.dumps(ALICE_USER)),
        "authentication_methods": ["federated"],
        "enrolled_factors": [],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def commit_claims(
    *, now: int, commit: str, primary: Mapping[str, Any], **overrides: Any
) -> dict[str, Any]:
    """A commit token's claims as the shim makes them from `primary`, the user's profile."""
    claims = {
        "aud": "linker:commit",
        "sub": primary.get("user_id", PRIMARY),
        "commit": commit,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
        "linker_v": 2,
        "user": {
            "identities": primary.get("identities", []),
            "user_metadata": primary.get("user_metadata", {}),
            "app_metadata": primary.get("app_metadata", {}),
        },
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


@dataclass
class Harness:
    """The service (`app`, reached through `client` as the browser) and its fake tenant."""

    tenant: FakeTenant
    clock: FakeClock
    client: httpx.AsyncClient
    settings: Settings
    app: Starlette
    outer_state: str = "outer-state-Üñ+/=="
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def runtime(self) -> Runtime:
        """The service's parts, as its endpoints see them."""
        runtime: Runtime = self.app.state.runtime
        return runtime

    def use_store(self, store: Store) -> None:
        """Keep attempts in `store` from now on."""
        self.runtime.attempts.store = store

    async def reconcile(self) -> Report:
        """One pass over pending work, as `linker reconcile` runs it."""
        report: Report = await self.app.state.reconcile()
        return report

    def browser_at(self, ip: str) -> httpx.AsyncClient:
        """Another client to the service, from `ip`, with the browser's cookies."""
        transport = httpx.ASGITransport(app=self.app, client=(ip, 1234))
        return httpx.AsyncClient(
            transport=transport, base_url=self.settings.public_url, cookies=self.client.cookies
        )

    def start_claims(self, **overrides: Any) -> dict[str, Any]:
        return start_claims(now=int(self.clock()), hint=self.hint(), **overrides)

    def hint(self, **claims: Any) -> str:
        return self.tenant.id_token(**{"sub": PRIMARY, **claims})

    async def start(
        self, token: str | None = None, *, state: str | None = None, **claims: Any
    ) -> httpx.Response:
        token = token if token is not None else hs256(self.start_claims(**claims))
        params = {"session_token": token, "state": self.outer_state if state is None else state}
        return await self.client.get("/link/start", params=params)

    async def callback(self, **params: str) -> httpx.Response:
        """The nested login's return; when it shows the account to be linked, the user presses
        Link (`callback_page` stops at that page)."""
        response = await self.callback_page(**params)
        if is_confirm_page(response):
            return await self.choose(response, "link")
        return response

    async def callback_page(self, **params: str) -> httpx.Response:
        return await self.client.get("/link/callback", params=params)

    async def choose(self, page: httpx.Response, choice: str, **overrides: str) -> httpx.Response:
        """Press Link or Cancel on the page that shows the account (`overrides` alter the
        form's fields, as a forger would)."""
        fields = {**confirm_fields(page, choice), **overrides}
        return await self.client.post("/link/confirm", data=fields)

    async def link_callback(self, sub: str = SECONDARY, **claims: Any) -> httpx.Response:
        """Start, sign in at the tenant as `sub`, and come back to the callback."""
        started = await self.start()
        assert started.status_code == 302, started.text
        code = self.tenant.login(started.headers["location"], sub=sub, **claims)
        return await self.callback(code=code, state=nested_state(started))

    async def link_with_email(self, sub: str, primary_email: str) -> Linked:
        """A whole attempt by a primary whose start token carries `primary_email`."""
        user = {**self.start_claims()["user"], "email": primary_email}
        started = await self.start(user=user)
        assert started.status_code == 302, started.text
        code = self.tenant.login(started.headers["location"], sub=sub)
        return await self.finish(await self.callback(code=code, state=nested_state(started)))

    async def link(self, sub: str = SECONDARY, **claims: Any) -> Linked:
        """A whole attempt: start, nested login as `sub`, callback, and the Action's commit."""
        return await self.finish(await self.link_callback(sub, **claims))

    async def finish(self, callback: httpx.Response) -> Linked:
        """What the shim does at `/continue`: commit a pending result, take any other as is."""
        resumed = read_resume(callback)
        committed = await self.commit(resumed.commit) if resumed.status == "pending" else None
        return Linked(callback, resumed, committed)

    def commit_claims(self, commit: str, **overrides: Any) -> dict[str, Any]:
        """The commit token's claims as the shim makes them, from the primary's profile now."""
        primary = self.tenant.users.get(PRIMARY, {})
        return commit_claims(now=int(self.clock()), commit=commit, primary=primary, **overrides)

    async def commit(
        self, commit: str, *, secret: str = SECRET, token: str | None = None, **overrides: Any
    ) -> httpx.Response:
        token = (
            token if token is not None else hs256(self.commit_claims(commit, **overrides), secret)
        )
        return await self.client.post("/link/commit", json={"commit_token": token})


@asynccontextmanager
async def running(
    tenant: FakeTenant, clock: FakeClock, settings: Settings, *, store: Store | None = None
) -> AsyncIterator[Harness]:
    """The service on `clock`, its tenant faked, reached in-process: the `harness` fixture."""
    upstream = httpx.AsyncClient(transport=tenant.transport())
    app = create_app(
        settings,
        http=HttpxUpstream(upstream),
        store=store,
        clock=clock,
        retrier=Retrier(clock=clock, sleep=clock.sleep),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:
            yield Harness(tenant=tenant, clock=clock, client=client, settings=settings, app=app)
    await upstream.aclose()


def assert_dead_end(response: httpx.Response, code: str = "invalid_session_token") -> None:
    """The error page (400) naming the contract's `code`, with no way back to the Action's
    /continue and no cookie set."""
    assert response.status_code == 400
    assert f"<code>{code}</code>" in response.text
    assert "/continue" not in response.text
    assert "set-cookie" not in response.headers


def nested_state(started: httpx.Response) -> str:
    return query_of(started.headers["location"])["state"]


def signed_raw(payload: str, secret: str = SECRET) -> str:
    """An HS256 JWT over a payload given as raw JSON text: shapes `json.dumps` cannot make
    (nested past Python's recursion limit) or that a careless signer would (NaN)."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(b'{"alg":"HS256","typ":"JWT"}')
    signing_input = f"{header}.{b64(payload.encode())}"
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def deeply_nested(depth: int = 5_000) -> str:
    return "[" * depth + "]" * depth
