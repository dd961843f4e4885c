"""The agent story over real HTTP against the dev tenant, in both Token Vault models.

- Identities (a connection used only to log in, google-oauth2 in the seed): Token Vault says
  `tokenset_not_found`, the app links the Google account through linker with the Calendar
  scopes, and the agent's retry gets a token.
- Connected accounts (a connection whose purposes include Connected Accounts for Token Vault,
  windowslive in the seed; https://auth0.com/docs/secure/tokens/token-vault/connected-accounts-for-token-vault):
  a link through linker succeeds and still leaves Token Vault empty, as on a real tenant; the
  My Account API's connect flow fills it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from linker.client import (
    ConnectContext,
    ConnectedAccounts,
    LinkContext,
    LinkRequired,
    LinkSettings,
    TokenVault,
    build_authorize_url,
    link_required_handler,
    random_token,
    s256_challenge,
)
from linker.testing import ScriptedBrowser, query_of
from linker.testing.stack import APP_CALLBACK, APP_SECRETS, Stack

pytestmark = pytest.mark.e2e

DAVE, DAVE_GOOGLE = "auth0|dave", "google-oauth2|dave"
CALENDAR = "https://www.googleapis.com/auth/calendar.readonly"


MICROSOFT_CALENDAR = "Calendars.Read"


def vault(e2e: Stack, **options: Any) -> TokenVault:
    return TokenVault(
        domain=e2e.domain,
        scheme="http",
        client_id="demo-app",
        client_secret=APP_SECRETS["demo-app"],
        **options,
    )


def demo_app_link_settings(e2e: Stack) -> LinkSettings:
    """Link requests from the sample app's client to the stack's dev tenant."""
    return LinkSettings(
        domain=e2e.domain, client_id="demo-app", redirect_uri=APP_CALLBACK, scheme="http"
    )


def my_account_token(e2e: Stack, browser: ScriptedBrowser) -> str:
    """The signed-in user's access token for the My Account API (SSO: no login page)."""
    verifier = random_token()
    url = build_authorize_url(
        f"{e2e.tenant_url}/authorize",
        client_id="demo-app",
        redirect_uri=APP_CALLBACK,
        scope="openid create:me:connected_accounts",
        state=random_token(),
        code_challenge=s256_challenge(verifier),
        extra={"audience": f"{e2e.tenant_url}/me/"},
    )
    page = browser.get(url)
    code = query_of(page.headers["location"])["code"]
    answer = httpx.post(
        f"{e2e.tenant_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "demo-app",
            "client_secret": APP_SECRETS["demo-app"],
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": APP_CALLBACK,
        },
    )
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


async def test_link_required_then_linked_then_token(e2e: Stack) -> None:
    with e2e.browser() as browser:
        dave = e2e.sign_in(browser, DAVE)
        assert dave.refresh_token is not None
        settings = demo_app_link_settings(e2e)

        # 1. The agent asks Token Vault for a Google token: there is none.
        async with vault(e2e) as tv:
            with pytest.raises(LinkRequired) as needed:
                await tv.exchange(
                    dave.refresh_token,
                    connection="google-oauth2",
                    scopes=[CALENDAR],
                    link=LinkContext(settings, dave.id_token),
                )
        assert needed.value.connection == "google-oauth2"
        assert needed.value.scopes == (CALENDAR,)
        request = needed.value.link_request
        assert request is not None and needed.value.link_url == request.url

        # 2. The app follows link_url; Dave signs in to his Google account and consents.
        page = browser.get(request.url)
        page = browser.submit(browser.form_with(user_id=DAVE_GOOGLE))
        outcome = e2e.resume(browser, page, request.code_verifier, "demo-app")
        assert outcome.link_result is not None and outcome.link_result["status"] == "linked"
        assert e2e.identities(DAVE) == [DAVE, DAVE_GOOGLE]

        # 3. The agent asks again and gets the token, with the scopes granted at the link.
        async with vault(e2e) as tv:
            token = await tv.exchange(
                dave.refresh_token, connection="google-oauth2", scopes=[CALENDAR]
            )
        assert token.access_token and token.expires_in > 0
        assert CALENDAR in token.scopes


async def test_agent_api_answers_link_required(e2e: Stack) -> None:
    """An agent API on Starlette turns LinkRequired into a 401 the app can act on."""
    with e2e.browser() as browser:
        dave = e2e.sign_in(browser, DAVE)
    settings = demo_app_link_settings(e2e)

    async def calendar(request: Request) -> JSONResponse:
        async with vault(e2e) as tv:
            token = await tv.exchange(
                request.headers["x-refresh-token"],
                connection="google-oauth2",
                scopes=[CALENDAR],
                link=LinkContext(settings, request.headers["x-id-token"]),
            )
        return JSONResponse({"scope": token.scope})

    agent = Starlette(
        routes=[Route("/calendar", calendar)],
        exception_handlers={LinkRequired: link_required_handler},
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=agent), base_url="http://agent.test"
    ) as client:
        assert dave.refresh_token is not None
        answer = await client.get(
            "/calendar",
            headers={
                "x-refresh-token": dave.refresh_token,
                "x-id-token": dave.id_token,
            },
        )
    assert answer.status_code == 401
    body = answer.json()
    assert body["error"] == "link_required"
    assert body["connection"] == "google-oauth2" and body["scopes"] == [CALENDAR]
    assert body["link_url"].startswith(f"{e2e.tenant_url}/authorize?")
    assert 'error="link_required"' in answer.headers["www-authenticate"]


async def test_connected_accounts_model_the_link_is_the_wrong_path(e2e: Stack) -> None:
    """windowslive logs in and holds connected accounts: linking it through linker works as a
    link, and Token Vault still has nothing, exactly as a current tenant answers."""
    with e2e.browser() as browser:
        dave = e2e.sign_in(browser, DAVE)
        assert dave.refresh_token is not None
        outcome = e2e.link(
            browser,
            dave.id_token,
            "windowslive",
            "windowslive|erin",
            connection_scope=MICROSOFT_CALENDAR,
        )
        assert outcome.link_result is not None and outcome.link_result["status"] == "linked"
        assert "windowslive|erin" in e2e.identities(DAVE)

    async with vault(e2e) as tv:
        with pytest.raises(LinkRequired) as still:
            await tv.exchange(
                dave.refresh_token, connection="windowslive", scopes=[MICROSOFT_CALENDAR]
            )
    assert (still.value.reason, still.value.via) == ("not_found", "link")


@pytest.mark.parametrize("via", ["connect", "auto"])
async def test_connected_accounts_model_through_the_my_account_api(e2e: Stack, via: str) -> None:
    with e2e.browser() as browser:
        dave = e2e.sign_in(browser, DAVE)
        assert dave.refresh_token is not None
        my_token = my_account_token(e2e, browser)
        settings = demo_app_link_settings(e2e)
        async with (
            vault(e2e, via={"windowslive": via}) as tv,
            ConnectedAccounts(domain=e2e.domain, scheme="http") as accounts,
        ):
            connect = ConnectContext(accounts, my_token, APP_CALLBACK)
            # 1. Nothing stored: the agent says "connect", with the flow already started.
            with pytest.raises(LinkRequired) as needed:
                await tv.exchange(
                    dave.refresh_token,
                    connection="windowslive",
                    scopes=[MICROSOFT_CALENDAR],
                    link=LinkContext(settings, dave.id_token),
                    connect=connect,
                )
            assert needed.value.via == "connect" and needed.value.link_url is None
            request = needed.value.connect_request
            assert request is not None and needed.value.url == request.url

            # 2. The user allows it at the tenant; the app completes the flow.
            browser.get(request.url)
            back = browser.submit(browser.form_with(action="allow"))
            params = query_of(back.headers["location"])
            account = await accounts.complete(my_token, request, params)
            assert account.connection == "windowslive"
            assert MICROSOFT_CALENDAR in account.scopes

            # 3. Token Vault answers from the connected account.
            token = await tv.exchange(
                dave.refresh_token, connection="windowslive", scopes=[MICROSOFT_CALENDAR]
            )
    assert MICROSOFT_CALENDAR in token.scopes
    assert e2e.identities(DAVE) == [DAVE]  # nothing was linked


async def test_auto_links_a_connection_that_is_only_for_login(e2e: Stack) -> None:
    """`via="auto"` asks the tenant: google-oauth2 has no Connected Accounts purpose, so the
    connect endpoint refuses it and the agent offers the link through linker."""
    with e2e.browser() as browser:
        dave = e2e.sign_in(browser, DAVE)
        assert dave.refresh_token is not None
        my_token = my_account_token(e2e, browser)
    settings = demo_app_link_settings(e2e)
    async with (
        vault(e2e, via="auto") as tv,
        ConnectedAccounts(domain=e2e.domain, scheme="http") as accounts,
    ):
        with pytest.raises(LinkRequired) as needed:
            await tv.exchange(
                dave.refresh_token,
                connection="google-oauth2",
                scopes=[CALENDAR],
                link=LinkContext(settings, dave.id_token),
                connect=ConnectContext(accounts, my_token, APP_CALLBACK),
            )
    assert needed.value.via == "link"
    assert needed.value.link_url is not None and needed.value.url == needed.value.link_url
