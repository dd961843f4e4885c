"""linker's nested login against a certified OpenID Provider that nobody here wrote.

panva's `oidc-provider` (OpenID Certified) plays the tenant's OpenID side: discovery, the
authorization endpoint with PKCE and nonce, the token endpoint with the client authentication
the client was registered with, RS256 ID tokens, and UserInfo. By default it is strict: a code
flow's ID token carries no email claims, which then come only from UserInfo (OIDC Core 5.4).

A certified OP has no Auth0 Management API, so that leg (client credentials for
`/api/v2/`, the users and identities routes) goes to the in-process fake tenant; everything
else goes over real HTTP to the provider. The application's `id_token_hint` is a real ID token
the provider issued to the application's own client.

The callback's result says what was verified about the secondary identity (`pending`, with the
identity); the commit, made as the shim makes it, then writes the link on the fake tenant.
"""

from __future__ import annotations

import re
import time
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin

import httpx
import pytest
from joserfc.jwk import RSAKey

from linker.app import create_app
from linker.core.pkce import random_token, s256_challenge
from linker.testing import FakeClock, query_of
from tests.conformance.conftest import Provider, StartProvider
from tests.support.fake_tenant import LINKER_CLIENT, LINKER_SECRET, FakeTenant
from tests.support.harness import (
    Harness,
    Linked,
    hs256,
    make_settings,
    start_claims,
)
from tests.support.httpx_upstream import HttpxUpstream

APP, APP_SECRET, APP_CALLBACK = "app-client", "app-client-secret-0123456789", "https://app.test/cb"
PUBLIC_URL = "https://linker.test"
ALICE, GITHUB = "google-oauth2|alice", "github|1001"
AUTO_FORM = re.compile(r'<form method="post" action="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
GITHUB_1001 = {"provider": "github", "user_id": "1001", "connection": "github"}


def provider_config(
    *, claims_in_id_token: bool, linker_auth: str, github_verified: bool = True
) -> dict[str, Any]:
    return {
        "clients": [
            {
                "client_id": APP,
                "client_secret": APP_SECRET,
                "redirect_uris": [APP_CALLBACK],
                "token_endpoint_auth_method": "client_secret_basic",
            },
            {
                "client_id": LINKER_CLIENT,
                "client_secret": LINKER_SECRET,
                "redirect_uris": [f"{PUBLIC_URL}/link/callback"],
                "token_endpoint_auth_method": linker_auth,
            },
        ],
        "accounts": {
            ALICE: {"email": "alice@example.com", "email_verified": True, "name": "Alice"},
            GITHUB: {"email": "alice@example.com", "email_verified": github_verified},
        },
        "accountForClient": {APP: ALICE, LINKER_CLIENT: GITHUB},
        "claimsInIdToken": claims_in_id_token,
        "connectionForClient": {LINKER_CLIENT: "github"},
    }


class SplitTransport(httpx.AsyncBaseTransport):
    """The OpenID leg to the provider over real HTTP; the Management API leg to the fake."""

    def __init__(self, fake: FakeTenant) -> None:
        self.fake = fake
        self.real = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[str, str, str]] = []  # (method, path, client auth scheme)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        form = parse_qs(request.content.decode()) if request.method == "POST" else {}
        if form.get("grant_type") == ["client_credentials"]:  # the Management API's token
            at_fake = request.url.copy_with(path="/oauth/token")
            return self.fake.handle(
                httpx.Request("POST", at_fake, headers=request.headers, content=request.content)
            )
        if request.url.path.startswith("/api/v2/"):
            return self.fake.handle(request)
        scheme = request.headers.get("authorization", "").partition(" ")[0]
        if request.url.path == "/token" and not scheme and "client_secret" in form:
            scheme = "Post"
        self.sent.append((request.method, request.url.path, scheme))
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


async def follow(browser: httpx.AsyncClient, url: str, until: str) -> dict[str, str]:
    """Follow the provider's redirects until one goes to `until`; its query parameters.

    Signing in as another account than the provider's current session makes it end that
    session first, through an auto-submitting form: submitted here as a browser would.
    """
    response = await browser.get(url)
    for _ in range(12):
        if response.status_code == 200 and (form := AUTO_FORM.search(response.text)):
            fields = dict(HIDDEN.findall(response.text))
            response = await browser.post(urljoin(url, unescape(form[1])), data=fields)
            continue
        assert response.status_code in (302, 303), response.text
        url = urljoin(url, response.headers["location"])
        if url.startswith(until):
            return query_of(url)
        response = await browser.get(url)
    raise AssertionError(f"no redirect to {until}")


async def app_id_token(browser: httpx.AsyncClient, provider: Provider) -> str:
    """Sign Alice in to the application's own client: its ID token is the link's hint."""
    verifier = random_token()
    params = {
        "client_id": APP,
        "response_type": "code",
        "redirect_uri": APP_CALLBACK,
        "scope": "openid email",
        "state": random_token(),
        "nonce": random_token(),
        "code_challenge": s256_challenge(verifier),
        "code_challenge_method": "S256",
    }
    back = await follow(browser, f"http://{provider.domain}/auth?{urlencode(params)}", APP_CALLBACK)
    answer = await browser.post(
        f"http://{provider.domain}/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": APP_CALLBACK,
            "code_verifier": verifier,
        },
        auth=(APP, APP_SECRET),
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id_token"])


def start_token(provider: Provider, hint: str) -> str:
    claims = start_claims(
        now=int(time.time()), hint=hint, sub=ALICE, iss=provider.domain, client_id=APP
    )
    return hs256(claims)


@pytest.fixture
def fake(rsa_key: RSAKey) -> FakeTenant:
    tenant = FakeTenant(key=rsa_key, clock=time.time)
    tenant.add_user(ALICE, email="alice@example.com")
    tenant.add_user(GITHUB, email="alice@example.com")
    return tenant


async def link_at(provider: Provider, fake: FakeTenant) -> tuple[Linked, SplitTransport]:
    """Alice links her GitHub account; the nested login runs at `provider`, and the Action's
    commit (protocol v2) follows a pending result, as the shim would send it."""
    settings = make_settings(
        LINKER_AUTH0_DOMAIN=provider.domain,
        LINKER_TENANT_SCHEME="http",
        LINKER_CLIENT_ID=LINKER_CLIENT,
        LINKER_CLIENT_SECRET=LINKER_SECRET,
        LINKER_PUBLIC_URL=PUBLIC_URL,
    )
    upstream_transport = SplitTransport(fake)
    async with (
        httpx.AsyncClient(transport=upstream_transport) as upstream,
        httpx.AsyncClient(timeout=10) as browser,
    ):
        app = create_app(settings, http=HttpxUpstream(upstream))
        async with app.router.lifespan_context(app):
            linker = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 50000)),
                base_url=PUBLIC_URL,
            )
            async with linker:
                hint = await app_id_token(browser, provider)
                started = await linker.get(
                    "/link/start",
                    params={"session_token": start_token(provider, hint), "state": "outer"},
                )
                assert started.status_code == 302, started.text
                nested = started.headers["location"]
                assert nested.startswith(f"http://{provider.domain}/auth?")
                back = await follow(browser, nested, f"{PUBLIC_URL}/link/callback")
                assert "code" in back, back
                harness = Harness(
                    tenant=fake, clock=FakeClock(), client=linker, settings=settings, app=app
                )
                linked = await harness.finish(await harness.callback(**back))
    return linked, upstream_transport


@pytest.mark.parametrize("linker_auth", ["client_secret_basic", "client_secret_post"])
async def test_strict_provider_email_only_at_userinfo(
    start_provider: StartProvider, fake: FakeTenant, linker_auth: str
) -> None:
    provider = start_provider(provider_config(claims_in_id_token=False, linker_auth=linker_auth))
    linked, sent = await link_at(provider, fake)
    assert linked.resumed.status == "pending", linked.resumed.result
    assert linked.resumed.result["identity"] == GITHUB_1001  # what the callback verified
    assert linked.status == "linked", linked.result
    assert GITHUB_1001["user_id"] in [i["user_id"] for i in fake.users[ALICE]["identities"]]
    assert ("GET", "/.well-known/openid-configuration", "") in sent.sent
    assert ("GET", "/me", "Bearer") in sent.sent  # the email claims came from UserInfo
    # Discovery lists Basic, so Basic it is (RFC 6749 2.3.1); oidc-provider takes either
    # secret method from a client registered for one of them, so no fallback is needed here
    # (tests/service/test_oidc_client.py covers a server that refuses the other method).
    token_auth = [scheme for _, path, scheme in sent.sent if path == "/token"]
    assert token_auth == ["Basic"]


async def test_provider_with_email_claims_in_the_id_token(
    start_provider: StartProvider, fake: FakeTenant
) -> None:
    provider = start_provider(
        provider_config(claims_in_id_token=True, linker_auth="client_secret_basic")
    )
    linked, sent = await link_at(provider, fake)
    assert linked.resumed.status == "pending", linked.resumed.result
    assert linked.resumed.result["identity"] == GITHUB_1001  # what the callback verified
    assert linked.status == "linked", linked.result
    assert GITHUB_1001["user_id"] in [i["user_id"] for i in fake.users[ALICE]["identities"]]
    assert not [path for _, path, _ in sent.sent if path == "/me"]


async def test_unverified_email_at_userinfo_is_refused(
    start_provider: StartProvider, fake: FakeTenant
) -> None:
    provider = start_provider(
        provider_config(
            claims_in_id_token=False, linker_auth="client_secret_basic", github_verified=False
        )
    )
    linked, _ = await link_at(provider, fake)
    assert (linked.status, linked.error) == ("denied", "secondary_email_not_verified")
    assert fake.calls["POST identities"] == 0
