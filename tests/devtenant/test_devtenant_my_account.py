"""The My Account API's Connected Accounts endpoints: what they refuse, and the flow's edges.

Reference: https://auth0.com/docs/api/myaccount/connected-accounts/create-a-connected-account-request
and .../complete-a-connected-account-request; the flow itself is in
https://auth0.com/docs/secure/tokens/token-vault/connected-accounts-for-token-vault.
"""

from __future__ import annotations

from typing import Any

from tests.devtenant.conftest import Driver
from tests.devtenant.test_devtenant_token_vault import connect, my_account_token

CONNECT = "/me/v1/connected-accounts/connect"
COMPLETE = "/me/v1/connected-accounts/complete"
ACCOUNTS = "/me/v1/connected-accounts/accounts"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def start(driver: Driver, token: str, **body: Any) -> Any:
    payload = {"connection": "windowslive", "redirect_uri": driver.APP_CB, **body}
    return await driver.http.post(CONNECT, json=payload, headers=bearer(token))


async def test_connect_refusals_are_problem_documents(driver: Driver) -> None:
    token = await my_account_token(driver, "google-oauth2|alice")
    no_token = await driver.http.post(CONNECT, json={"connection": "windowslive"})
    assert no_token.status_code == 401
    assert no_token.headers["content-type"].startswith("application/problem+json")
    assert {"type", "title", "status", "detail"} <= set(no_token.json())
    # A token for /userinfo only is not a My Account API token.
    userinfo_only = (await driver.tokens("google-oauth2|alice", prompt="login"))["access_token"]
    assert (await start(driver, userinfo_only)).status_code == 401
    # Without create:me:connected_accounts.
    read_only = (
        await driver.tokens(
            "google-oauth2|alice",
            audience=driver.BASE + "/me/",
            scope="openid read:me:connected_accounts",
            prompt="login",
        )
    )["access_token"]
    assert (await start(driver, read_only)).status_code == 403
    assert (await start(driver, token, connection="github")).status_code == 400  # login only
    assert (await start(driver, token, connection="nope")).status_code == 400
    assert (await start(driver, token, redirect_uri="http://evil.test/cb")).status_code == 400
    plain = await start(driver, token, code_challenge="x" * 43, code_challenge_method="plain")
    assert plain.status_code == 400
    ok = await start(driver, token)
    assert ok.status_code == 201
    assert "x-ratelimit-limit" in ok.headers


async def test_complete_is_one_use_and_checks_pkce(driver: Driver) -> None:
    token = await my_account_token(driver, "google-oauth2|alice")
    verifier, challenge = driver.pkce()
    started = (
        await start(
            driver, token, state="s", code_challenge=challenge, code_challenge_method="S256"
        )
    ).json()
    page = await driver.http.get(started["connect_uri"], params=started["connect_params"])
    assert page.status_code == 200 and "windowslive" in page.text
    allow = next(f for f in driver.forms_of(page.text) if f.fields.get("action") == "allow")
    back = driver.query_of(
        (await driver.http.post(allow.action, data=allow.fields)).headers["location"]
    )
    body = {
        "auth_session": started["auth_session"],
        "connect_code": back["connect_code"],
        "redirect_uri": driver.APP_CB,
        "code_verifier": "w" * 43,
    }
    wrong = await driver.http.post(COMPLETE, json=body, headers=bearer(token))
    assert wrong.status_code == 400
    # The failed attempt spent the session: the right verifier is too late now.
    again = await driver.http.post(
        COMPLETE, json={**body, "code_verifier": verifier}, headers=bearer(token)
    )
    assert again.status_code == 400
    # The ticket was spent at the connect page too.
    stale = await driver.http.get(started["connect_uri"], params=started["connect_params"])
    assert stale.status_code == 400


async def test_another_users_token_cannot_complete(driver: Driver) -> None:
    frank = await my_account_token(driver, "google-oauth2|frank")
    alice = await my_account_token(driver, "google-oauth2|alice")  # this browser is Alice's
    started = (await start(driver, alice)).json()
    page = await driver.http.get(started["connect_uri"], params=started["connect_params"])
    allow = next(f for f in driver.forms_of(page.text) if f.fields.get("action") == "allow")
    back = driver.query_of(
        (await driver.http.post(allow.action, data=allow.fields)).headers["location"]
    )
    stolen = await driver.http.post(
        COMPLETE,
        json={
            "auth_session": started["auth_session"],
            "connect_code": back["connect_code"],
            "redirect_uri": driver.APP_CB,
        },
        headers=bearer(frank),
    )
    assert stolen.status_code == 400


async def test_denied_at_the_connect_page(driver: Driver) -> None:
    token = await my_account_token(driver, "google-oauth2|alice")
    started = (await start(driver, token, state="s")).json()
    page = await driver.http.get(started["connect_uri"], params=started["connect_params"])
    deny = next(f for f in driver.forms_of(page.text) if f.fields.get("action") == "deny")
    back = driver.query_of(
        (await driver.http.post(deny.action, data=deny.fields)).headers["location"]
    )
    assert (back["error"], back["state"]) == ("access_denied", "s")


async def test_list_and_delete_connected_accounts(driver: Driver) -> None:
    token = await my_account_token(driver, "google-oauth2|alice")
    account = (await connect(driver, token, "windowslive", [])).json()
    listed = await driver.http.get(ACCOUNTS, headers=bearer(token))
    assert [a["id"] for a in listed.json()["accounts"]] == [account["id"]]
    # Deleting needs delete:me:connected_accounts, which this token lacks.
    url = f"{ACCOUNTS}/{account['id']}"
    assert (await driver.http.delete(url, headers=bearer(token))).status_code == 403
    deleter = (
        await driver.tokens(
            "google-oauth2|alice",
            audience=driver.BASE + "/me/",
            scope="openid delete:me:connected_accounts",
            prompt="login",
        )
    )["access_token"]
    assert (await driver.http.delete(url, headers=bearer(deleter))).status_code == 204
    assert (await driver.http.delete(url, headers=bearer(deleter))).status_code == 404
    listed = await driver.http.get(ACCOUNTS, headers=bearer(token))
    assert listed.json()["accounts"] == []
