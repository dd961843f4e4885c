"""The agent story over real HTTP: Token Vault says `tokenset_not_found`, the app links the
Google account with the Calendar scopes, and the agent's retry gets a token."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from linker.client import (
    LinkContext,
    LinkRequired,
    LinkSettings,
    TokenVault,
    link_required_handler,
)
from tests.e2e.stack import APP_CALLBACK, APP_SECRETS, Stack

pytestmark = pytest.mark.e2e

DAVE, DAVE_GOOGLE = "auth0|dave", "google-oauth2|dave"
CALENDAR = "https://www.googleapis.com/auth/calendar.readonly"


def vault(e2e: Stack) -> TokenVault:
    return TokenVault(
        domain=e2e.domain,
        scheme="http",
        client_id="demo-app",
        client_secret=APP_SECRETS["demo-app"],
    )


async def test_link_required_then_linked_then_token(e2e: Stack) -> None:
    with e2e.browser() as browser:
        dave = e2e.sign_in(browser, DAVE)
        assert dave.refresh_token is not None
        settings = LinkSettings(
            domain=e2e.domain, client_id="demo-app", redirect_uri=APP_CALLBACK, scheme="http"
        )

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
    settings = LinkSettings(
        domain=e2e.domain, client_id="demo-app", redirect_uri=APP_CALLBACK, scheme="http"
    )

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
