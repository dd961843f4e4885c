"""Token Vault: `tokenset_not_found` until a linked identity's tokenset covers the scopes."""

from __future__ import annotations

from typing import Any

GRANT = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
FEDERATED = "http://auth0.com/oauth/token-type/federated-connection-access-token"
REFRESH = "urn:ietf:params:oauth:token-type:refresh_token"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


async def exchange(driver: Any, subject: str, *, kind: str = REFRESH, **extra: str) -> Any:
    form = {
        "grant_type": GRANT,
        "client_id": "demo-app",
        "client_secret": driver.SECRETS["demo-app"],
        "subject_token_type": kind,
        "subject_token": subject,
        "requested_token_type": FEDERATED,
        "connection": "github",
        **extra,
    }
    return await driver.http.post("/oauth/token", data=form)


async def test_tokenset_not_found_then_found_after_linking(driver: Any) -> None:
    tokens = await driver.tokens("google-oauth2|alice", scope="openid offline_access")
    refresh = tokens["refresh_token"]
    response = await exchange(driver, refresh, scope="repo")
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

    response = await exchange(driver, refresh, scope="repo")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "repo"
    assert (body["issued_token_type"], body["token_type"]) == (FEDERATED, "Bearer")
    assert body["access_token"] and body["expires_in"] > 0
    # Scopes beyond what was granted still have no tokenset.
    more = await exchange(driver, refresh, scope="repo admin:org")
    assert more.json()["error"] == "tokenset_not_found"


async def test_a_linked_identity_without_the_scope_is_not_enough(driver: Any) -> None:
    await driver.api(
        "POST",
        "users/google-oauth2|alice/identities",
        json={"provider": "github", "user_id": "1001"},
    )
    await driver.sign_in("github|1001", connection="github")  # default GitHub scopes only
    refresh = (
        await driver.tokens("google-oauth2|alice", scope="openid offline_access", prompt="login")
    )["refresh_token"]
    assert (await exchange(driver, refresh, scope="repo")).status_code == 401
    plain = await exchange(driver, refresh)
    assert plain.status_code == 200
    assert plain.json()["scope"] == "read:user user:email"


async def test_an_access_token_is_a_subject_too(driver: Any) -> None:
    tokens = await driver.tokens("google-oauth2|frank")
    response = await exchange(driver, tokens["access_token"], kind=ACCESS, scope="repo")
    assert response.status_code == 200
    assert (await exchange(driver, "garbage", kind=ACCESS)).status_code == 401


async def test_exchange_refusals(driver: Any) -> None:
    refresh = (await driver.tokens("google-oauth2|frank", scope="openid offline_access"))[
        "refresh_token"
    ]
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
