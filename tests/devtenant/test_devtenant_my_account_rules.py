"""The My Account API as Auth0 runs it now: its 2FA rule, MRRT, the starting browser, the
Management API's listing, and login_hint among a user's accounts at one provider.

Pages followed: https://auth0.com/docs/manage-users/my-account-api (Default Policy),
https://auth0.com/docs/secure/tokens/refresh-tokens/multi-resource-refresh-token,
https://auth0.com/docs/secure/call-apis-on-users-behalf/token-vault/connected-accounts-for-token-vault
and https://auth0.com/docs/secure/call-apis-on-users-behalf/token-vault/refresh-token-exchange-with-token-vault.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from linker.devtenant import SeedError, load_seed
from linker.devtenant.seed import bundled_seed_data
from linker.devtenant.token_claims import access_token_claims
from tests.devtenant.conftest import Driver
from tests.devtenant.test_devtenant_token_vault import exchange, refresh_token

ME = "/me/"
CONNECTED = "create:me:connected_accounts read:me:connected_accounts"
DAVE = "auth0|dave"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def mrrt(driver: Driver, refresh: str, **extra: str) -> httpx.Response:
    """A refresh token grant for the My Account API (Multi-Resource Refresh Token)."""
    return await driver.http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "demo-app",
            "client_secret": driver.SECRETS["demo-app"],
            "refresh_token": refresh,
            "audience": driver.BASE + ME,
            **extra,
        },
    )


# -- Multi-Resource Refresh Token ----------------------------------------------------------


async def test_a_refresh_token_gets_a_my_account_token_within_the_policy(driver: Driver) -> None:
    refresh = await refresh_token(driver, "google-oauth2|alice", prompt="login")
    answer = await mrrt(driver, refresh, scope=CONNECTED + " update:me:authentication_methods")
    assert answer.status_code == 200, answer.text
    claims = await driver.verify(answer.json()["access_token"])
    assert claims["aud"] == driver.BASE + ME
    # The policy allows the Connected Accounts scopes, not the authentication methods one.
    assert claims["scope"].split() == CONNECTED.split()
    unasked = await mrrt(driver, refresh)
    scopes = (await driver.verify(unasked.json()["access_token"]))["scope"].split()
    assert sorted(scopes) == sorted([*CONNECTED.split(), "delete:me:connected_accounts"])


async def test_an_audience_outside_the_policy_is_ignored(driver: Driver) -> None:
    refresh = await refresh_token(driver, "google-oauth2|alice", prompt="login")
    other = await mrrt(driver, refresh, audience="urn:linker:agent-api")
    assert other.status_code == 200
    claims = await driver.verify(other.json()["access_token"])
    assert claims["aud"] == driver.BASE + "/userinfo"  # the refresh token's own audience


# -- the Default Policy: 2FA within 15 minutes ---------------------------------------------


async def test_mfa_user_refresh_after_15_minutes_needs_the_factor_again(driver: Driver) -> None:
    refresh = await refresh_token(driver, DAVE, prompt="login")
    assert (await mrrt(driver, refresh)).status_code == 200
    driver.clock.advance(15 * 60 + 1)
    late = await mrrt(driver, refresh)
    assert late.status_code == 403
    assert late.json()["error"] == "mfa_required"
    # Other audiences are not under the policy.
    assert (await exchange(driver, refresh, connection="google-oauth2")).status_code == 401
    assert (
        await driver.http.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "client_id": "demo-app",
                "client_secret": driver.SECRETS["demo-app"],
                "refresh_token": refresh,
            },
        )
    ).status_code == 200
    # A new login with the second factor gives a refresh token that meets it.
    fresh = await refresh_token(driver, DAVE, prompt="login")
    assert (await mrrt(driver, fresh)).status_code == 200


async def test_user_without_factor_gets_unmet_requirements_after_15_minutes(
    driver: Driver,
) -> None:
    refresh = await refresh_token(driver, "google-oauth2|alice", prompt="login")
    driver.clock.advance(15 * 60 + 1)
    late = await mrrt(driver, refresh)
    assert (late.status_code, late.json()["error"]) == (403, "unmet_authentication_requirements")


async def test_a_login_that_skipped_the_factor_gets_no_my_account_token(driver: Driver) -> None:
    url = await driver.sign_in(DAVE, {"mfa": "0"}, audience=driver.BASE + ME, scope=CONNECTED)
    query = driver.query_of(url)
    assert query["error"] == "access_denied" and "second factor" in query["error_description"]
    # The same login without the My Account API audience is not under the policy.
    plain = await driver.sign_in(DAVE, {"mfa": "0"}, prompt="login")
    assert "code=" in plain


async def test_an_old_sso_session_is_not_reused_for_the_my_account_api(driver: Driver) -> None:
    await driver.tokens(DAVE, prompt="login")
    driver.clock.advance(15 * 60 + 1)
    silent = await driver.sign_in(DAVE, audience=driver.BASE + ME, scope=CONNECTED, prompt="none")
    assert driver.query_of(silent)["error"] == "interaction_required"
    page = await driver.follow(
        await driver.http.get(
            "/authorize", params=driver.authorize_params(audience=driver.BASE + ME)
        )
    )
    assert page.status_code == 200 and "<title>Sign in" in page.text  # a login page again
    # Another audience still reuses the session.
    reused = await driver.sign_in(DAVE, prompt="none")
    assert "code=" in reused


# -- the connect flow: starting browser, login_hint ----------------------------------------


async def my_account(driver: Driver, identity: str) -> str:
    tokens = await driver.tokens(
        identity, audience=driver.BASE + ME, scope=CONNECTED, prompt="login"
    )
    token: str = tokens["access_token"]
    return token


async def start(driver: Driver, token: str, connection: str, **body: Any) -> dict[str, Any]:
    answer = await driver.http.post(
        "/me/v1/connected-accounts/connect",
        json={"connection": connection, "redirect_uri": driver.APP_CB, "state": "s", **body},
        headers=bearer(token),
    )
    assert answer.status_code == 201, answer.text
    started: dict[str, Any] = answer.json()
    return started


async def test_the_connect_page_serves_only_the_browser_that_started(driver: Driver) -> None:
    # The attacker starts a flow for their own user and sends the link to Alice's browser.
    attacker = await my_account(driver, "google-oauth2|frank")
    started = await start(driver, attacker, "slack")
    await driver.tokens("google-oauth2|alice", prompt="login")  # the browser is Alice's now
    page = await driver.http.get(started["connect_uri"], params=started["connect_params"])
    assert page.status_code == 403 and "another account" in page.text
    posted = await driver.http.post(
        "/connect", data={"ticket": started["connect_params"]["ticket"], "action": "allow"}
    )
    assert posted.status_code == 403
    # A browser without any session is refused as well.
    driver.http.cookies.clear()
    assert (
        await driver.http.get(started["connect_uri"], params=started["connect_params"])
    ).status_code == 403


async def test_login_hint_picks_one_of_two_github_accounts(driver: Driver) -> None:
    token = await my_account(driver, DAVE)
    both = await start(driver, token, "github-vault")
    page = await driver.http.get(both["connect_uri"], params=both["connect_params"])
    offered = {f.fields.get("account") for f in driver.forms_of(page.text)} - {None}
    assert offered == {"5001", "5002"}

    hinted = await start(
        driver, token, "github-vault", authorization_params={"login_hint": "dave@home.example"}
    )
    page = await driver.http.get(hinted["connect_uri"], params=hinted["connect_params"])
    allow = [f for f in driver.forms_of(page.text) if f.fields.get("action") == "allow"]
    assert [f.fields["account"] for f in allow] == ["5002"]
    # Choosing an account the page did not offer is refused.
    forged = await driver.http.post(allow[0].action, data={**allow[0].fields, "account": "5001"})
    assert forged.status_code == 400
    back = driver.query_of(
        (await driver.http.post(allow[0].action, data=allow[0].fields)).headers["location"]
    )
    done = await driver.http.post(
        "/me/v1/connected-accounts/complete",
        json={
            "auth_session": hinted["auth_session"],
            "connect_code": back["connect_code"],
            "redirect_uri": driver.APP_CB,
        },
        headers=bearer(token),
    )
    assert done.status_code == 201, done.text

    refresh = await refresh_token(driver, DAVE, prompt="login")
    home = await exchange(
        driver, refresh, connection="github-vault", login_hint="dave@home.example"
    )
    assert home.status_code == 200
    work = await exchange(
        driver, refresh, connection="github-vault", login_hint="dave@work.example"
    )
    assert (work.status_code, work.json()["error"]) == (401, "tokenset_not_found")


async def test_login_hint_must_be_a_short_string(driver: Driver) -> None:
    token = await my_account(driver, DAVE)
    for params in ({"login_hint": "x" * 513}, {"login_hint": 5}, "login_hint"):
        answer = await driver.http.post(
            "/me/v1/connected-accounts/connect",
            json={
                "connection": "github-vault",
                "redirect_uri": driver.APP_CB,
                "authorization_params": params,
            },
            headers=bearer(token),
        )
        assert answer.status_code == 400


async def test_complete_needs_the_application_that_started(driver: Driver) -> None:
    token = await my_account(driver, "google-oauth2|alice")
    started = await start(driver, token, "slack")
    page = await driver.http.get(started["connect_uri"], params=started["connect_params"])
    allow = next(f for f in driver.forms_of(page.text) if f.fields.get("action") == "allow")
    back = driver.query_of(
        (await driver.http.post(allow.action, data=allow.fields)).headers["location"]
    )
    state = driver.state
    # Alice's My Account token, but issued to another application of the tenant.
    other = state.keys.sign(
        access_token_claims(
            issuer=state.issuer,
            subject="google-oauth2|alice",
            audience=driver.BASE + ME,
            client_id="partner-app",
            scopes=CONNECTED.split(),
            now=int(driver.clock()),
        )
    )
    body = {
        "auth_session": started["auth_session"],
        "connect_code": back["connect_code"],
        "redirect_uri": driver.APP_CB,
    }
    refused = await driver.http.post(
        "/me/v1/connected-accounts/complete", json=body, headers=bearer(other)
    )
    assert refused.status_code == 400


# -- the Management API's listing ----------------------------------------------------------


async def test_management_api_lists_connected_accounts(driver: Driver) -> None:
    listed = await driver.api("GET", "users/google-oauth2%7Cfrank/connected-accounts")
    assert listed.status_code == 200
    assert "x-ratelimit-limit" in listed.headers
    [slack] = listed.json()["connected_accounts"]
    assert slack["connection"] == "slack" and slack["connection_id"] == "con_slack"
    assert slack["strategy"] == "slack" and "chat:write" in slack["scopes"]
    assert "next" not in listed.json()
    empty = await driver.api("GET", "users/google-oauth2%7Calice/connected-accounts")
    assert empty.json() == {"connected_accounts": []}


async def test_management_listing_pages_and_refuses(driver: Driver) -> None:
    token = await my_account(driver, "google-oauth2|alice")
    for connection in ("slack", "windowslive"):
        started = await start(driver, token, connection)
        page = await driver.http.get(started["connect_uri"], params=started["connect_params"])
        allow = next(f for f in driver.forms_of(page.text) if f.fields.get("action") == "allow")
        back = driver.query_of(
            (await driver.http.post(allow.action, data=allow.fields)).headers["location"]
        )
        done = await driver.http.post(
            "/me/v1/connected-accounts/complete",
            json={
                "auth_session": started["auth_session"],
                "connect_code": back["connect_code"],
                "redirect_uri": driver.APP_CB,
            },
            headers=bearer(token),
        )
        assert done.status_code == 201
    path = "users/google-oauth2%7Calice/connected-accounts"
    first = (await driver.api("GET", path, params={"take": "1"})).json()
    assert [a["connection"] for a in first["connected_accounts"]] == ["slack"]
    second = (await driver.api("GET", path, params={"take": "1", "from": first["next"]})).json()
    assert [a["connection"] for a in second["connected_accounts"]] == ["windowslive"]
    assert "next" not in second
    for bad in ({"take": "0"}, {"take": "101"}, {"from": "-1"}, {"take": "x" * 50}):
        assert (await driver.api("GET", path, params=bad)).status_code == 400
    assert (await driver.api("GET", "users/nobody/connected-accounts")).status_code == 404
    assert (await driver.http.get("/api/v2/" + path)).status_code == 401
    no_read = await driver.management_token("linker", scope="update:users")
    assert (await driver.api("GET", path, token=no_read)).status_code == 403


# -- the seed's new fields -------------------------------------------------------------------


async def test_the_2fa_rule_can_be_turned_off(driver: Driver) -> None:
    refresh = await refresh_token(driver, DAVE, prompt="login")
    driver.clock.advance(15 * 60 + 1)
    assert (await mrrt(driver, refresh)).status_code == 403
    driver.state.settings = replace(driver.state.settings, my_account_require_2fa=False)
    assert (await mrrt(driver, refresh)).status_code == 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["settings"].update(my_account_require_2fa="yes"), "my_account_require_2fa"),
        (
            lambda d: d["clients"][0].update(my_account_refresh_scopes="all"),
            "my_account_refresh_scopes",
        ),
        (
            lambda d: d["users"][0].update(
                provider_accounts=[{"connection": "github", "user_id": "1"}]
            ),
            "no Connected Accounts purpose",
        ),
        (
            lambda d: d["users"][0].update(provider_accounts=[{"connection": "slack"}]),
            "provider_accounts[0].user_id",
        ),
    ],
)
def test_the_seed_checks_the_new_fields(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = bundled_seed_data()
    change(data)
    with pytest.raises(SeedError, match=re.escape(message)):
        load_seed(data)
