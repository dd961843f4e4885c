"""The agent story on today's Auth0, over real HTTP against the dev tenant, with the default
`TokenVault()` (`via="auto"`) and the My Account API token from the refresh token (MRRT).

- A Connected Accounts connection (slack) goes through the connect flow; a Management API
  check then finds the connected account.
- A connection used only to log in (google-oauth2) goes through a link: the tenant refuses to
  connect it, and `LinkRequired` says so.
- A user with MFA whose last factor is more than 15 minutes old gets `StepUpRequired` (the My
  Account API's Default Policy, https://auth0.com/docs/manage-users/my-account-api) and
  succeeds after signing in again with the factor.
- A user with two GitHub accounts connects the one `login_hint` names, and Token Vault answers
  for it by the same hint.
"""

from __future__ import annotations

import httpx
import pytest

from linker.client import (
    ConnectContext,
    ConnectedAccounts,
    ConnectedAccountsCheck,
    LinkContext,
    LinkRequired,
    LinkSettings,
    StepUpRequired,
    TokenVault,
    build_authorize_url,
    random_token,
    s256_challenge,
)
from linker.testing import ScriptedBrowser
from linker.testing.stack import APP_CALLBACK, APP_SECRETS, Stack, Tokens

pytestmark = pytest.mark.e2e

DAVE, DAVE_GOOGLE = "auth0|dave", "google-oauth2|dave"
CALENDAR = "https://www.googleapis.com/auth/calendar.readonly"
SECRET = APP_SECRETS["demo-app"]


def vault(e2e: Stack) -> TokenVault:
    """The default vault: nothing said about the way, so `via="auto"`."""
    return TokenVault(domain=e2e.domain, scheme="http", client_id="demo-app", client_secret=SECRET)


def accounts(e2e: Stack) -> ConnectedAccounts:
    return ConnectedAccounts(domain=e2e.domain, scheme="http")


def link_context(e2e: Stack, tokens: Tokens) -> LinkContext:
    settings = LinkSettings(
        domain=e2e.domain, client_id="demo-app", redirect_uri=APP_CALLBACK, scheme="http"
    )
    return LinkContext(settings, tokens.id_token)


def allow(browser: ScriptedBrowser, url: str, **choice: str) -> str:
    """Allow the connect page (as the account `choice` names); the callback URL reached."""
    browser.get(url)
    back = browser.submit(browser.form_with(action="allow", **choice))
    location: str = back.headers["location"]
    assert location.startswith(APP_CALLBACK), location
    return location


def step_up(e2e: Stack, browser: ScriptedBrowser, user_id: str, params: dict[str, str]) -> Tokens:
    """Sign in again with what `StepUpRequired` asks for."""
    verifier = random_token()
    url = build_authorize_url(
        f"{e2e.tenant_url}/authorize",
        client_id="demo-app",
        redirect_uri=APP_CALLBACK,
        scope="openid profile email offline_access",
        state=random_token(),
        nonce=random_token(),
        code_challenge=s256_challenge(verifier),
        extra=params,
    )
    browser.get(url)
    browser.submit(browser.form_with(connection=e2e.connection_of(user_id)))
    page = browser.submit(browser.form_with(user_id=user_id))
    outcome = e2e.finish(browser, page, verifier, "demo-app")
    assert outcome.tokens is not None, outcome.error_description
    return outcome.tokens


async def test_a_connected_accounts_connection_goes_through_connect(e2e: Stack) -> None:
    with e2e.browser() as browser:
        dave = e2e.sign_in(browser, DAVE)
        assert dave.refresh_token is not None
        async with vault(e2e) as tv, accounts(e2e) as my:
            # 1. Nothing stored: the tenant accepts a connect request, so the user connects.
            with pytest.raises(LinkRequired) as needed:
                await tv.exchange(
                    dave.refresh_token,
                    connection="slack",
                    scopes=["chat:write"],
                    link=link_context(e2e, dave),
                    connect=ConnectContext(my, None, APP_CALLBACK),
                )
            assert needed.value.via == "connect" and needed.value.link_url is None
            assert "accepted a connect request" in needed.value.why
            request = needed.value.connect_request
            assert request is not None

            # 2. The user allows it; the app completes with a My Account token from MRRT.
            callback = allow(browser, request.url)
            token = await my.token_from_refresh_token(
                dave.refresh_token, client_id="demo-app", client_secret=SECRET
            )
            account = await my.complete(token.access_token, request, callback)
            assert account.connection == "slack" and "chat:write" in account.scopes
            assert [a.id for a in await my.list(token.access_token)] == [account.id]

            # 3. Token Vault answers from the connected account; nothing was linked.
            got = await tv.exchange(dave.refresh_token, connection="slack", scopes=["chat:write"])
    assert "chat:write" in got.scopes
    assert e2e.identities(DAVE) == [DAVE]

    # A server learns the same through the Management API (demo-app has read:users).
    async with ConnectedAccountsCheck(
        domain=e2e.domain, scheme="http", client_id="demo-app", client_secret=SECRET
    ) as check:
        found = await check.require(DAVE, "slack", scopes=["chat:write"])
        assert found.id == account.id
        with pytest.raises(LinkRequired) as missing:
            await check.require(DAVE, "github-vault")
    assert missing.value.via == "connect" and "lists no connected account" in missing.value.why


async def test_an_authentication_only_connection_goes_through_link(e2e: Stack) -> None:
    with e2e.browser() as browser:
        dave = e2e.sign_in(browser, DAVE)
        assert dave.refresh_token is not None
        async with vault(e2e) as tv, accounts(e2e) as my:
            with pytest.raises(LinkRequired) as needed:
                await tv.exchange(
                    dave.refresh_token,
                    connection="google-oauth2",
                    scopes=[CALENDAR],
                    link=link_context(e2e, dave),
                    connect=ConnectContext(my, None, APP_CALLBACK),
                )
        assert needed.value.via == "link"
        assert "refused to connect google-oauth2" in needed.value.why
        request = needed.value.link_request
        assert request is not None and needed.value.url == request.url

        page = browser.get(request.url)
        page = browser.submit(browser.form_with(user_id=DAVE_GOOGLE))
        outcome = e2e.resume(browser, page, request.code_verifier, "demo-app")
        assert outcome.link_result is not None and outcome.link_result["status"] == "linked"

    async with vault(e2e) as tv:
        got = await tv.exchange(dave.refresh_token, connection="google-oauth2", scopes=[CALENDAR])
    assert CALENDAR in got.scopes


async def test_a_user_with_mfa_steps_up_then_connects(e2e: Stack) -> None:
    with e2e.browser() as browser:
        dave = e2e.sign_in(browser, DAVE)
        assert dave.refresh_token is not None
        e2e.advance(16 * 60)  # the second factor Dave gave at sign-in is now too old
        async with vault(e2e) as tv, accounts(e2e) as my:
            connect = ConnectContext(my, None, APP_CALLBACK)
            with pytest.raises(StepUpRequired) as stale:
                await tv.exchange(dave.refresh_token, connection="slack", connect=connect)
            assert stale.value.ask_for == "second_factor"
            assert stale.value.code == "mfa_required"
            assert stale.value.authorize_params["prompt"] == "login"

            fresh = step_up(e2e, browser, DAVE, stale.value.authorize_params)
            assert fresh.refresh_token is not None
            with pytest.raises(LinkRequired) as needed:
                await tv.exchange(fresh.refresh_token, connection="slack", connect=connect)
            request = needed.value.connect_request
            assert needed.value.via == "connect" and request is not None
            callback = allow(browser, request.url)
            token = await my.token_from_refresh_token(
                fresh.refresh_token, client_id="demo-app", client_secret=SECRET
            )
            await my.complete(token.access_token, request, callback)
            got = await tv.exchange(fresh.refresh_token, connection="slack")
    assert "users:read" in got.scopes


async def test_login_hint_connects_the_named_one_of_two_github_accounts(e2e: Stack) -> None:
    with e2e.browser() as browser:
        dave = e2e.sign_in(browser, DAVE)
        assert dave.refresh_token is not None
        async with vault(e2e) as tv, accounts(e2e) as my:
            connect = ConnectContext(my, None, APP_CALLBACK)
            with pytest.raises(LinkRequired) as needed:
                await tv.exchange(
                    dave.refresh_token,
                    connection="github-vault",
                    login_hint="dave@home.example",
                    connect=connect,
                )
            request = needed.value.connect_request
            assert request is not None
            browser.get(request.url)
            offered = {f.fields.get("account") for f in browser.forms} - {None}
            assert offered == {"5002"}  # only the personal account the hint names
            callback = allow(browser, request.url, account="5002")
            token = await my.token_from_refresh_token(
                dave.refresh_token, client_id="demo-app", client_secret=SECRET
            )
            await my.complete(token.access_token, request, callback)

            got = await tv.exchange(
                dave.refresh_token, connection="github-vault", login_hint="dave@home.example"
            )
            assert "read:user" in got.scopes
            with pytest.raises(LinkRequired):
                await tv.exchange(
                    dave.refresh_token, connection="github-vault", login_hint="dave@work.example"
                )


async def test_the_connect_code_is_read_from_the_fragment_too(e2e: Stack) -> None:
    """The Connected Accounts page shows the connect_code in the redirect's fragment: a
    callback URL carrying it there completes the same."""
    with e2e.browser() as browser:
        dave = e2e.sign_in(browser, DAVE)
        assert dave.refresh_token is not None
        async with accounts(e2e) as my:
            token = await my.token_from_refresh_token(
                dave.refresh_token, client_id="demo-app", client_secret=SECRET
            )
            request = await my.start(
                token.access_token, connection="slack", redirect_uri=APP_CALLBACK
            )
            callback = allow(browser, request.url)
            query = httpx.URL(callback).query.decode()
            account = await my.complete(token.access_token, request, f"{APP_CALLBACK}#{query}")
    assert account.connection == "slack"
