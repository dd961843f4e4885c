"""The single-page sample's server: the page, the SDK bundle it serves, and its API's token
checks (in-process, against the fake tenant)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt

from linker.demo.spa_app import SpaConfig, create_spa_app
from linker.testing import FakeClock
from tests.demo.demo_fakes import ALICE, CLIENT_SECRET, KEY, TENANT_URL, demo_tenant
from tests.support.fake_tenant import FakeTenant

AUDIENCE = "https://api.linker-demo.example"
SPA = "http://localhost:8703"

Spa = tuple[httpx.AsyncClient, FakeTenant, FakeClock]  # the browser, the tenant, the clock


@pytest.fixture
async def spa(tmp_path: Path) -> AsyncIterator[Spa]:
    clock = FakeClock()
    tenant = demo_tenant(
        clock,
        [
            {"connection": "google-oauth2", "provider": "google-oauth2", "user_id": "alice"},
            {"connection": "github", "provider": "github", "user_id": "1001"},
        ],
    )
    sdk = tmp_path / "auth0-spa-js.production.js"
    sdk.write_text("/* the SDK */")
    http = httpx.AsyncClient(transport=tenant.transport())
    # The fake tenant knows one confidential client; the API server's machine client is it.
    config = SpaConfig(
        tenant_url=TENANT_URL,
        public_url=SPA,
        api_client_secret=CLIENT_SECRET,
        api_client_id="demo-app",
    )
    app = create_spa_app(config, sdk=sdk, http=http, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SPA) as browser:
        yield browser, tenant, clock
    await http.aclose()


def access_token(clock: FakeClock, **claims: Any) -> str:
    now = int(clock.now)
    base = {
        "iss": f"{TENANT_URL}/",
        "sub": ALICE,
        "aud": [AUDIENCE, f"{TENANT_URL}/userinfo"],
        "azp": "demo-spa",
        "iat": now,
        "exp": now + 3600,
        "scope": "openid profile email offline_access",
    }
    header = {"alg": "RS256", "kid": "test-key", "typ": "JWT"}
    return jwt.encode(header, {**base, **claims}, KEY, algorithms=["RS256"])


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_the_page_carries_public_settings_only(spa: Spa) -> None:
    browser, _, _ = spa
    page = await browser.get("/")
    assert page.status_code == 200
    found = re.search(
        r'<script type="application/json" id="spa-settings">(.*?)</script>', page.text
    )
    assert found
    settings = json.loads(found.group(1))
    assert settings == {
        "domain": TENANT_URL,
        "clientId": "demo-spa",
        "audience": AUDIENCE,
        "redirectUri": SPA + "/",
        "sdkVersion": "2.27.0",
        "hintRefreshAfter": 480,
        "webAppUrl": None,
    }
    assert CLIENT_SECRET not in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and f"connect-src 'self' {TENANT_URL}" in csp
    assert '<script src="/vendor/auth0-spa-js.production.js"' in page.text


async def test_the_sdk_and_the_scripts_are_served_from_here(spa: Spa) -> None:
    browser, _, _ = spa
    vendor = await browser.get("/vendor/auth0-spa-js.production.js")
    assert (vendor.status_code, vendor.text) == (200, "/* the SDK */")
    assert vendor.headers["content-type"].startswith("text/javascript")
    script = await browser.get("/app.js")
    assert "loginWithRedirect" in script.text and "link_account" in script.text
    explanations = (await browser.get("/explanations.json")).json()
    assert explanations["sub_mismatch"]["*"]["title"].startswith("Link refused")
    assert "still linked" in explanations["cancelled"]["unlink"]["what"]


async def test_the_api_refuses_a_missing_or_foreign_token(spa: Spa) -> None:
    browser, _, clock = spa
    assert (await browser.get("/api/me")).status_code == 401
    for token in (
        access_token(clock, aud=f"{TENANT_URL}/userinfo"),  # not for this API
        access_token(clock, iss="http://evil.example/"),
        access_token(clock, exp=int(clock.now) - 3600),
        access_token(clock)[:-4] + "AAAA",  # signature broken
    ):
        response = await browser.get("/api/me", headers=bearer(token))
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_the_api_keeps_one_record_per_sub_across_tokens(spa: Spa) -> None:
    browser, _, clock = spa
    first = (await browser.get("/api/me", headers=bearer(access_token(clock)))).json()
    clock.now += 60  # a new access token after a link: same sub
    second = (await browser.get("/api/me", headers=bearer(access_token(clock)))).json()
    assert first["sub"] == second["sub"] == ALICE
    assert second["record"] == {"first_seen": first["record"]["first_seen"], "calls": 2}
    assert second["token"]["issued_at"] != first["token"]["issued_at"]


async def test_the_api_reads_identities_server_side(spa: Spa) -> None:
    browser, tenant, clock = spa
    response = await browser.get("/api/identities", headers=bearer(access_token(clock)))
    assert response.status_code == 200
    assert [i["connection"] for i in response.json()["identities"]] == ["google-oauth2", "github"]
    [grant] = [r for r in tenant.requests_to("/oauth/token") if b"client_credentials" in r.content]
    assert b"client_id=demo-app" in grant.content


def test_the_config_wants_base_urls() -> None:
    with pytest.raises(ValueError, match="public_url"):
        SpaConfig(tenant_url=TENANT_URL, public_url=SPA + "/app", api_client_secret="s")


async def test_the_page_names_an_icon_that_is_there(spa: Spa) -> None:
    browser, _, _ = spa
    page = await browser.get("/")
    assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in page.text
    icon = await browser.get("/favicon.ico")
    assert (icon.status_code, icon.headers["content-type"]) == (200, "image/svg+xml")
    assert icon.text.startswith("<svg")
