"""Third-party applications at `/authorize`: PKCE mandatory, and the first-party parameters
linking relies on (`id_token_hint`, `requested_connection*`) refused with `invalid_request`.

Source: https://auth0.com/docs/get-started/applications/third-party-applications/security-controls
"""

from __future__ import annotations

import pytest

from tests.devtenant.conftest import Driver

PARTNER = {"client_id": "partner-app"}


@pytest.mark.parametrize(
    "param",
    [
        "id_token_hint",
        "requested_connection",
        "requested_connection_scope",
        "requested_connection_scopes",
    ],
)
async def test_third_party_clients_may_not_send_linking_parameters(
    driver: Driver, param: str
) -> None:
    params = driver.authorize_params(**PARTNER, **{param: "x"})
    response = await driver.http.get("/authorize", params=params)
    assert response.status_code == 302
    back = driver.query_of(response.headers["location"])
    assert back["error"] == "invalid_request"
    assert param in back["error_description"]
    assert back["state"] == params["state"]
    assert not driver.state.pending  # refused before any login page


async def test_third_party_clients_need_pkce(driver: Driver) -> None:
    params = driver.authorize_params(**PARTNER)
    del params["code_challenge"], params["code_challenge_method"]
    response = await driver.http.get("/authorize", params=params)
    back = driver.query_of(response.headers["location"])
    assert (back["error"], back["error_description"]) == (
        "invalid_request",
        "PKCE is required for third-party applications",
    )


async def test_a_third_party_client_signs_in_without_them(driver: Driver) -> None:
    url = await driver.sign_in("google-oauth2|alice", **PARTNER)
    assert "code=" in url


async def test_first_party_clients_send_them_as_before(driver: Driver) -> None:
    url = await driver.sign_in(
        "google-oauth2|alice", requested_connection="github", id_token_hint="x"
    )
    assert "code=" in url  # no link scope: the shim lets the login through


@pytest.mark.parametrize(
    "grant",
    [
        "http://auth0.com/oauth/grant-type/password-realm",
        "password",
        "client_credentials",
        "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token",
    ],
)
async def test_third_party_clients_get_the_code_and_refresh_grants_only(
    driver: Driver, grant: str
) -> None:
    """Security controls: "Only authorization_code and refresh_token are available"; Auth0
    answers 403 `unauthorized_client` for another grant type."""
    assert not driver.state.seed.client("partner-app").is_first_party
    form = {
        "grant_type": grant,
        "realm": "Username-Password-Authentication",
        "username": "dave@example.com",
        "password": "dave-password-change-me-0123456789",
        "scope": "openid offline_access",
        "client_id": "partner-app",
        "client_secret": "partner-app-secret-change-me-0123456789",
    }
    answer = await driver.http.post("/oauth/token", data=form)
    assert answer.status_code == 403 and answer.json()["error"] == "unauthorized_client"
