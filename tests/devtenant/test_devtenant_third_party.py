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
