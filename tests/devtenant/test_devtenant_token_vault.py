"""Token Vault in the dev tenant, as Auth0 documents it today.

- Where it reads, by connection purpose ("Connected Accounts for Token Vault",
  https://auth0.com/docs/secure/tokens/token-vault/connected-accounts-for-token-vault): a
  login-only connection (github, google-oauth2 in the seed) answers from the tokenset a login or
  link left on the identity; a connection with Connected Accounts (windowslive: both purposes,
  slack: Connected Accounts only) answers only from the user's connected accounts.
- The answer's `scope` is what was granted; the request has no `scope` parameter
  (https://auth0.com/docs/secure/tokens/token-vault/refresh-token-exchange-with-token-vault).
- Both not-found codes seen in the wild are selectable (seed or admin setting).
- Access token exchange needs a token for an API and that API's Custom API Client
  (https://auth0.com/docs/secure/tokens/token-vault/access-token-exchange-with-token-vault).
"""

from __future__ import annotations

from typing import Any

from tests.devtenant.conftest import Driver

GRANT = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
FEDERATED = "http://auth0.com/oauth/token-type/federated-connection-access-token"
REFRESH = "urn:ietf:params:oauth:token-type:refresh_token"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
AGENT_API = "urn:linker:agent-api"
MY_ACCOUNT_SCOPE = "openid offline_access create:me:connected_accounts read:me:connected_accounts"


async def exchange(
    driver: Driver, subject: str, *, kind: str = REFRESH, client_id: str = "demo-app", **extra: str
) -> Any:
    secret = {**driver.SECRETS, "agent-api": "agent-api-secret-change-me-0123456789"}[client_id]
    form = {
        "grant_type": GRANT,
        "client_id": client_id,
        "client_secret": secret,
        "subject_token_type": kind,
        "subject_token": subject,
        "requested_token_type": FEDERATED,
        "connection": "github",
        **extra,
    }
    return await driver.http.post("/oauth/token", data=form)


async def refresh_token(driver: Driver, identity: str, **params: str) -> str:
    tokens = await driver.tokens(identity, scope="openid offline_access", **params)
    token: str = tokens["refresh_token"]
    return token


async def connect(driver: Driver, token: str, connection: str, scopes: list[str]) -> Any:
    """The My Account API's connect flow, allowed at the connect page; the complete answer."""
    verifier, challenge = driver.pkce()
    bearer = {"authorization": f"Bearer {token}"}
    started = await driver.http.post(
        "/me/v1/connected-accounts/connect",
        json={
            "connection": connection,
            "redirect_uri": driver.APP_CB,
            "state": "connect-state",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "scopes": scopes,
        },
        headers=bearer,
    )
    assert started.status_code == 201, started.text
    body = started.json()
    page = await driver.http.get(body["connect_uri"], params=body["connect_params"])
    allow = next(f for f in driver.forms_of(page.text) if f.fields.get("action") == "allow")
    back = driver.query_of(
        (await driver.http.post(allow.action, data=allow.fields)).headers["location"]
    )
    assert back["state"] == "connect-state"
    return await driver.http.post(
        "/me/v1/connected-accounts/complete",
        json={
            "auth_session": body["auth_session"],
            "connect_code": back["connect_code"],
            "redirect_uri": driver.APP_CB,
            "code_verifier": verifier,
        },
        headers=bearer,
    )


async def my_account_token(driver: Driver, identity: str) -> str:
    tokens = await driver.tokens(
        identity, audience=driver.BASE + "/me/", scope=MY_ACCOUNT_SCOPE, prompt="login"
    )
    token: str = tokens["access_token"]
    return token


# -- login-only connections: the identities model (what linker serves) ---------------------


async def test_tokenset_not_found_then_found_after_linking(driver: Driver) -> None:
    refresh = await refresh_token(driver, "google-oauth2|alice")
    response = await exchange(driver, refresh)
    assert response.status_code == 401
    assert response.json()["error"] == "tokenset_not_found"
    assert response.json()["error_description"]

    # linker's nested login asks GitHub for "repo", then links the account into Alice.
    nested = await driver.sign_in(
        "github|1001",
        client_id="linker",
        redirect_uri=driver.LINKER_URL + "/link/callback",
        connection="github",
        connection_scope="repo",
        prompt="login",
    )
    assert "code=" in nested
    linked = await driver.api(
        "POST",
        "users/google-oauth2|alice/identities",
        json={"provider": "github", "user_id": "1001"},
    )
    assert linked.status_code == 201

    response = await exchange(driver, refresh)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "read:user repo user:email"  # what the logins granted
    assert (body["issued_token_type"], body["token_type"]) == (FEDERATED, "Bearer")
    assert body["access_token"] and body["expires_in"] > 0


async def test_the_answer_says_what_was_granted_whatever_the_request_says(driver: Driver) -> None:
    """There is no `scope` request parameter: an extra one changes nothing."""
    await driver.api(
        "POST",
        "users/google-oauth2|alice/identities",
        json={"provider": "github", "user_id": "1001"},
    )
    await driver.sign_in("github|1001", connection="github")  # default GitHub scopes only
    refresh = await refresh_token(driver, "google-oauth2|alice", prompt="login")
    plain = await exchange(driver, refresh)
    asking = await exchange(driver, refresh, scope="repo admin:org")
    assert plain.status_code == asking.status_code == 200
    assert plain.json()["scope"] == asking.json()["scope"] == "read:user user:email"


async def test_both_not_found_codes_are_selectable(driver: Driver) -> None:
    refresh = await refresh_token(driver, "google-oauth2|alice")
    changed = await driver.http.post(
        "/__admin/settings",
        json={"token_vault_not_found_error": "federated_connection_refresh_token_not_found"},
    )
    assert changed.status_code == 200, changed.text
    response = await exchange(driver, refresh)
    assert (response.status_code, response.json()["error"]) == (
        401,
        "federated_connection_refresh_token_not_found",
    )
    bad = await driver.http.post("/__admin/settings", json={"token_vault_not_found_error": "x"})
    assert bad.status_code == 400
    await driver.http.post("/__admin/reset")  # back to the seed's code
    refresh = await refresh_token(driver, "google-oauth2|alice")
    assert (await exchange(driver, refresh)).json()["error"] == "tokenset_not_found"


# -- connections with Connected Accounts: the My Account API model --------------------------


async def test_a_link_does_not_fill_a_connected_accounts_connection(driver: Driver) -> None:
    """windowslive logs in AND holds connected accounts: a link fills `identities`, which Token
    Vault does not read for it. This is the wrong path an app can take on today's Auth0."""
    await driver.sign_in("windowslive|erin", connection="windowslive", connection_scope="calendars")
    linked = await driver.api(
        "POST",
        "users/google-oauth2|alice/identities",
        json={"provider": "windowslive", "user_id": "erin"},
    )
    assert linked.status_code == 201
    refresh = await refresh_token(driver, "google-oauth2|alice")
    response = await exchange(driver, refresh, connection="windowslive")
    assert (response.status_code, response.json()["error"]) == (401, "tokenset_not_found")


async def test_connected_account_then_token(driver: Driver) -> None:
    token = await my_account_token(driver, "google-oauth2|alice")
    refresh = await refresh_token(driver, "google-oauth2|alice")
    assert (await exchange(driver, refresh, connection="windowslive")).status_code == 401
    done = await connect(driver, token, "windowslive", ["Calendars.Read"])
    assert done.status_code == 201, done.text
    account = done.json()
    assert account["connection"] == "windowslive" and account["access_type"] == "offline"
    assert account["scopes"] == ["Calendars.Read", "wl.basic", "wl.emails"]
    assert account["id"].startswith("cac_")
    response = await exchange(driver, refresh, connection="windowslive")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "Calendars.Read wl.basic wl.emails"
    user = (await driver.http.get("/__admin/users/google-oauth2|alice")).json()
    assert [a["connection"] for a in user["connected_accounts"]] == ["windowslive"]
    assert [i["connection"] for i in user["identities"]] == ["google-oauth2"]  # no identity


async def test_a_connected_accounts_only_connection_is_not_for_login(driver: Driver) -> None:
    refused = await driver.sign_in("google-oauth2|alice", connection="slack")
    assert driver.query_of(refused)["error"] == "invalid_request"
    assert "not enabled for login" in driver.query_of(refused)["error_description"]
    token = await my_account_token(driver, "google-oauth2|alice")
    assert (await connect(driver, token, "slack", ["chat:write"])).status_code == 201
    refresh = await refresh_token(driver, "google-oauth2|alice")
    response = await exchange(driver, refresh, connection="slack")
    assert response.json()["scope"] == "chat:write users:read"


# -- access token exchange ----------------------------------------------------------------


async def test_access_token_exchange_needs_an_api_token_and_its_custom_api_client(
    driver: Driver,
) -> None:
    # frank has GitHub 1004 linked with "repo" in its tokenset.
    for_api = (await driver.tokens("google-oauth2|frank", audience=AGENT_API))["access_token"]
    claims = await driver.verify(for_api)
    assert claims["aud"] == [AGENT_API, driver.BASE + "/userinfo"]

    ok = await exchange(driver, for_api, kind=ACCESS, client_id="agent-api")
    assert ok.status_code == 200, ok.text
    assert "repo" in ok.json()["scope"].split()

    # Any other client may not exchange an access token, even one for the API.
    other_client = await exchange(driver, for_api, kind=ACCESS, client_id="demo-app")
    assert (other_client.status_code, other_client.json()["error"]) == (
        403,
        "unauthorized_client",
    )
    # A token good only for /userinfo is not a subject.
    userinfo_only = (await driver.tokens("google-oauth2|frank", prompt="login"))["access_token"]
    refused = await exchange(driver, userinfo_only, kind=ACCESS, client_id="agent-api")
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_grant")
    assert (
        await exchange(driver, "garbage", kind=ACCESS, client_id="agent-api")
    ).status_code == 401


async def test_an_unknown_audience_is_refused_at_authorize(driver: Driver) -> None:
    refused = await driver.sign_in("google-oauth2|alice", audience="urn:nobody")
    assert driver.query_of(refused)["error"] == "access_denied"
    assert driver.query_of(refused)["error_description"] == "Service not found: urn:nobody"


async def test_exchange_refusals(driver: Driver) -> None:
    refresh = await refresh_token(driver, "google-oauth2|frank")
    assert (await exchange(driver, "unknown")).json()["error"] == "invalid_grant"
    wrong_type = await exchange(driver, refresh, requested_token_type="urn:other")
    assert (wrong_type.status_code, wrong_type.json()["error"]) == (400, "invalid_request")
    no_connection = await exchange(driver, refresh, connection="")
    assert no_connection.status_code == 400
    database = await exchange(driver, refresh, connection="Username-Password-Authentication")
    assert database.json()["error"] == "tokenset_not_found"
    hinted = await exchange(driver, refresh, login_hint="github|1004")
    assert hinted.status_code == 200
    other_hint = await exchange(driver, refresh, login_hint="github|1001")
    assert other_hint.status_code == 401


async def test_a_seeded_connected_account_serves_the_exchange(driver: Driver) -> None:
    refresh = await refresh_token(driver, "google-oauth2|frank")
    response = await exchange(driver, refresh, connection="slack")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "chat:write users:read"
    user = (await driver.http.get("/__admin/users/google-oauth2|frank")).json()
    assert [a["connection"] for a in user["connected_accounts"]] == ["slack"]
