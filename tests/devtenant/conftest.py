"""Fixtures for the dev tenant's own tests: the app in process, a fake clock, and a driver.

`Driver` plays the browser, the app and (where a test needs it) linker itself, through the
tenant's public routes only: it reads the login pages by their markup contract, exchanges
codes, and answers the shim's redirect with a hand-made result token.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from starlette.applications import Starlette

from linker.core.pkce import s256_challenge
from linker.devtenant import DevTenantConfig, create_dev_tenant, default_seed
from linker.testing import FakeClock, query_of
from linker.testing.browser import forms_of
from tests.support import harness

BASE = "http://127.0.0.1:8700"
DOMAIN = "127.0.0.1:8700"
APP_CB = "http://app.test/callback"
LINKER_URL = "http://linker.test"
LINKER_CB = LINKER_URL + "/link/callback"
ACTION_SECRET = "an-action-secret-of-at-least-32-bytes!!"
SECRETS = {
    "demo-app": "demo-app-secret-change-me-0123456789",
    "linker": "linker-secret-change-me-0123456789",
}
START = 1_700_000_000.0


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, s256_challenge(verifier)


# This suite's Action secret is the dev tenant's, not the service harness's.
hs256 = partial(harness.hs256, secret=ACTION_SECRET)
read_hs256 = partial(harness.read_hs256, secret=ACTION_SECRET)


class Driver:
    # Tests reach the constants and helpers through the fixture (conftest is not importable).
    BASE = BASE
    DOMAIN = DOMAIN
    APP_CB = APP_CB
    LINKER_URL = LINKER_URL
    ACTION_SECRET = ACTION_SECRET
    SECRETS = SECRETS
    query_of = staticmethod(query_of)
    hs256 = staticmethod(hs256)
    read_hs256 = staticmethod(read_hs256)
    pkce = staticmethod(pkce)
    forms_of = staticmethod(forms_of)

    def __init__(self, app: Starlette, http: httpx.AsyncClient, clock: FakeClock) -> None:
        self.app = app
        self.http = http
        self.clock = clock
        self.verifier = ""

    @property
    def state(self) -> Any:
        return self.app.state.tenant

    def authorize_params(self, **params: str) -> dict[str, str]:
        self.verifier, challenge = pkce()
        defaults = {
            "client_id": "demo-app",
            "redirect_uri": APP_CB,
            "response_type": "code",
            "scope": "openid profile email",
            "state": "app-state-" + secrets.token_hex(4),
            "nonce": "nonce-" + secrets.token_hex(4),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return {**defaults, **params}

    async def follow(self, response: httpx.Response) -> httpx.Response:
        """Follow redirects while they stay on the tenant."""
        while response.is_redirect:
            location = response.headers["location"]
            if location.startswith("http") and not location.startswith(BASE):
                return response
            response = await self.http.get(location)
        return response

    async def pick(self, page: httpx.Response, identity_id: str, **extra: str) -> httpx.Response:
        """Choose an account on a login page, as a scripted browser does."""
        assert page.status_code == 200, page.text
        if "user_id" not in page.text:  # the connection chooser: take the identity's connection
            provider = identity_id.split("|", 1)[0]
            connection = {"auth0": "Username-Password-Authentication"}.get(provider, provider)
            form = next(f for f in forms_of(page.text) if f.fields.get("connection") == connection)
            page = await self.follow(await self.http.post(form.action, data=form.fields))
        form = next(f for f in forms_of(page.text) if f.fields.get("user_id") == identity_id)
        return await self.http.post(form.action, data={**form.fields, **extra})

    async def sign_in(
        self, identity_id: str, form: dict[str, str] | None = None, /, **params: str
    ) -> str:
        """Run /authorize with `params` and the login page (submitted with `form`'s fields too);
        return where the tenant finally sends the browser."""
        response = await self.follow(
            await self.http.get("/authorize", params=self.authorize_params(**params))
        )
        if response.status_code == 200:
            response = await self.pick(response, identity_id, **(form or {}))
        assert response.is_redirect, response.text
        return response.headers["location"]

    async def exchange(
        self, url: str, *, client_id: str = "demo-app", redirect_uri: str = APP_CB
    ) -> httpx.Response:
        return await self.http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": query_of(url)["code"],
                "redirect_uri": redirect_uri,
                "code_verifier": self.verifier,
                "client_id": client_id,
                "client_secret": SECRETS[client_id],
            },
        )

    async def tokens(self, identity_id: str, **params: str) -> dict[str, Any]:
        url = await self.sign_in(identity_id, **params)
        assert url.startswith(APP_CB) and "code=" in url, url
        response = await self.exchange(url)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def verify(self, token: str) -> dict[str, Any]:
        keys = KeySet.import_key_set((await self.http.get("/.well-known/jwks.json")).json())
        return dict(jwt.decode(token, keys, algorithms=["RS256"]).claims)

    async def management_token(self, client_id: str = "linker", scope: str | None = None) -> str:
        data = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": SECRETS[client_id],
            "audience": BASE + "/api/v2/",
        }
        if scope is not None:
            data["scope"] = scope
        response = await self.http.post("/oauth/token", data=data)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def api(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        token = token or await self.management_token()
        headers = {"authorization": f"Bearer {token}"}
        return await self.http.request(method, "/api/v2/" + path, headers=headers, **kwargs)

    def result_token(self, start_url: str, result: dict[str, Any], **overrides: Any) -> str:
        """What linker would send back to /continue for the start token in `start_url`."""
        start = read_hs256(query_of(start_url)["session_token"])
        now = int(self.clock())
        claims = {
            "sub": start["sub"],
            "iss": LINKER_URL,
            "state": query_of(start_url)["state"],
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_hex(8),
            "linker_v": 2,
            "result": result,
            **overrides,
        }
        return hs256({k: v for k, v in claims.items() if v is not None})

    async def resume(self, start_url: str, token: str, *, method: str = "POST") -> str:
        state = query_of(start_url)["state"]
        if method == "POST":
            response = await self.http.post(
                "/continue", data={"state": state, "session_token": token}
            )
        else:
            response = await self.http.get(
                "/continue", params={"state": state, "session_token": token}
            )
        assert response.is_redirect, response.text
        return response.headers["location"]


def config(clock: FakeClock, **overrides: Any) -> DevTenantConfig:
    defaults: dict[str, Any] = {
        "base_url": BASE,
        "seed": default_seed(app_callback=APP_CB, linker_callback=LINKER_CB),
        "action_secrets": {
            "LINKER_URL": LINKER_URL,
            "LINKER_ACTION_SECRET": ACTION_SECRET,
            "LINKER_CLIENT_ID": "linker",
        },
        "admin": True,
        "clock": clock,
    }
    return DevTenantConfig(**{**defaults, **overrides})


# `make_driver(**overrides)` and `make_config(**overrides)`: DevTenantConfig fields.
MakeDriver = Callable[..., AbstractAsyncContextManager["Driver"]]
MakeConfig = Callable[..., DevTenantConfig]


@contextlib.asynccontextmanager
async def running(clock: FakeClock, **overrides: Any) -> AsyncIterator[Driver]:
    """A tenant with its lifespan running (the Action worker stops with it), and a driver."""
    app = create_dev_tenant(config(clock, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield Driver(app, http, clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def driver(clock: FakeClock) -> AsyncIterator[Driver]:
    async with running(clock) as d:
        yield d


@pytest.fixture
def make_driver(clock: FakeClock) -> MakeDriver:
    """`async with make_driver(action_path=..., seed=...) as d:` for a tenant of one's own."""
    return lambda **overrides: running(clock, **overrides)


@pytest.fixture
def make_config(clock: FakeClock) -> MakeConfig:
    return lambda **overrides: config(clock, **overrides)
