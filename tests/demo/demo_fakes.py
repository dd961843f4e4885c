"""The sample app's unit tests: the one fake tenant (tests/support) set up as the sample app's
tenant, and `Demo`, the sample app as a browser sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.jwk import RSAKey

from linker.testing import FakeClock, query_of
from tests.support.fake_tenant import FakeTenant

TENANT_URL = "http://127.0.0.1:8700"
CLIENT_SECRET = "demo-app-secret"
ALICE = "google-oauth2|alice"
KEY = RSAKey.generate_key(2048, parameters={"kid": "test-key"})


def demo_tenant(clock: FakeClock, identities: list[dict[str, str]]) -> FakeTenant:
    """The tenant the sample app signs in at: one client, `demo-app`, and Alice, whose
    identities are `identities`."""
    tenant = FakeTenant(
        key=KEY,
        clock=clock,
        base_url=TENANT_URL,
        clients={"demo-app": CLIENT_SECRET},
        app_client="demo-app",
        api_audience=f"{TENANT_URL}/api/v2/",
        id_token_claims={"sub": ALICE, "name": "Alice Liddell", "email": "alice@example.com"},
    )
    tenant.add_user(ALICE, email="alice@example.com")["identities"] = identities
    return tenant


@dataclass
class Demo:
    """The sample app as a browser sees it, and the fake tenant behind it."""

    tenant: FakeTenant
    browser: httpx.AsyncClient
    clock: FakeClock

    async def sign_in(self, **claims: Any) -> None:
        """The whole sign-in: /login, the tenant issues a code, /callback, the profile."""
        login = await self.browser.get("/login")
        page = await self.come_back(login.headers["location"], "login-code", **claims)
        assert ">Sign out</button>" in page.text

    async def csrf(self) -> str:
        page = await self.browser.get("/")
        return page.text.split('name="csrf" value="')[1].split('"')[0]

    async def press(self, path: str, **fields: str) -> httpx.Response:
        """Submit one of the profile page's forms, with the page's CSRF token."""
        return await self.browser.post(path, data={"csrf": await self.csrf(), **fields})

    async def come_back(self, authorize_url: str, code: str, **claims: Any) -> httpx.Response:
        """The tenant signs the user in (as Alice unless `sub` says) for `authorize_url` and
        redirects; the page after."""
        sub = claims.pop("sub", ALICE)
        self.tenant.login(authorize_url, sub=sub, code=code, **claims)
        state = query_of(authorize_url)["state"]
        back = await self.browser.get("/callback", params={"code": code, "state": state})
        assert back.status_code == 303, back.text
        return await self.browser.get(back.headers["location"])
