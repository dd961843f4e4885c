"""`/authorize` and the login pages: what is refused, and the markup test browsers rely on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.devtenant.conftest import Driver, MakeDriver


async def authorize(driver: Driver, **params: str) -> Any:
    return await driver.http.get("/authorize", params=driver.authorize_params(**params))


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"client_id": "nobody"}, "Unknown client: nobody"),
        ({"client_id": ""}, "Missing required parameter: client_id"),
        ({"redirect_uri": "http://evil.test/callback"}, "Callback URL mismatch"),
        ({"redirect_uri": "http://app.test/callback/"}, "not in the list of allowed callback"),
        # Registered for another client only: still refused for this one.
        ({"redirect_uri": "http://linker.test/link/callback"}, "Callback URL mismatch"),
    ],
)
async def test_unknown_client_or_callback_is_a_page_never_a_redirect(
    driver: Driver, params: dict[str, str], text: str
) -> None:
    response = await authorize(driver, **params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert text in response.text


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"code_challenge": "too-short", "code_challenge_method": "S256"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"connection": "gitlab"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"response_mode": "form_post"}, "invalid_request"),
    ],
)
async def test_bad_parameters_go_back_to_the_client(
    driver: Driver, params: dict[str, str], error: str
) -> None:
    response = await authorize(driver, state="s1", **params)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(driver.APP_CB + "?")
    assert driver.query_of(location)["error"] == error
    assert driver.query_of(location)["state"] == "s1"


async def test_plain_pkce_without_a_method_is_refused(driver: Driver) -> None:
    params = driver.authorize_params(state="s1")
    del params["code_challenge_method"]  # the default method is plain
    response = await driver.http.get("/authorize", params=params)
    assert driver.query_of(response.headers["location"])["error"] == "invalid_request"


async def test_prompt_none_without_a_session_is_login_required(driver: Driver) -> None:
    response = await authorize(driver, prompt="none", state="s2")
    assert driver.query_of(response.headers["location"]) == {
        "error": "login_required",
        "error_description": "Login required",
        "state": "s2",
    }


async def test_the_chooser_lists_connections_as_post_forms(driver: Driver) -> None:
    page = await driver.follow(await authorize(driver))
    forms = driver.forms_of(page.text)
    assert all(f.method == "post" and f.action == "/login" for f in forms)
    connections = [f.fields["connection"] for f in forms if "connection" in f.fields]
    assert connections == [
        "Username-Password-Authentication",
        "google-oauth2",
        "github",
        "windowslive",
    ]
    assert [f.fields["action"] for f in forms if "action" in f.fields] == ["cancel"]


async def test_a_connection_page_lists_every_identity_of_that_connection(driver: Driver) -> None:
    page = await driver.follow(await authorize(driver, connection="windowslive"))
    choices = {
        f.fields["user_id"]: f.text for f in driver.forms_of(page.text) if "user_id" in f.fields
    }
    assert set(choices) == {"windowslive|carol-msa", "windowslive|erin"}
    assert "carol@outlook.example" in choices["windowslive|carol-msa"]
    assert "erin@example.com" in choices["windowslive|erin"]


async def test_a_linked_secondary_signs_in_as_its_owner(driver: Driver) -> None:
    tokens = await driver.tokens("windowslive|carol-msa", connection="windowslive")
    claims = await driver.verify(tokens["id_token"])
    assert claims["sub"] == "github|1003"
    assert claims["email"] == "carol@example.com"


async def test_the_connection_parameter_locks_the_page(driver: Driver) -> None:
    page = await driver.follow(await authorize(driver, connection="github"))
    state = driver.forms_of(page.text)[0].fields["state"]
    response = await driver.http.post(
        "/login", data={"state": state, "user_id": "google-oauth2|alice"}
    )
    assert response.status_code == 400


async def test_cancel_goes_back_with_access_denied(driver: Driver) -> None:
    page = await driver.follow(await authorize(driver, connection="github", state="s3"))
    cancel = next(f for f in driver.forms_of(page.text) if f.fields.get("action") == "cancel")
    response = await driver.http.post(cancel.action, data=cancel.fields)
    query = driver.query_of(response.headers["location"])
    assert (query["error"], query["state"]) == ("access_denied", "s3")
    assert query["error_description"]
    # The login is over: its page is gone.
    again = await driver.http.get("/login", params={"state": cancel.fields["state"]})
    assert again.status_code == 400


async def test_everything_rendered_is_escaped(driver: Driver, make_driver: MakeDriver) -> None:
    seed = driver.state.seed
    from dataclasses import replace

    evil = replace(
        seed.users[0].identities[0],
        profile=replace(
            seed.users[0].identities[0].profile, email='<script>alert(1)</script>"', name="<b>x</b>"
        ),
    )
    users = (replace(seed.users[0], identities=(evil,)), *seed.users[1:])
    async with make_driver(seed=replace(seed, users=users)) as d:
        page = await d.follow(await authorize(d, connection="google-oauth2", state='"><i>'))
        assert "<script>" not in page.text and "<b>x</b>" not in page.text
        assert "&lt;script&gt;" in page.text
        form = next(
            f for f in d.forms_of(page.text) if f.fields.get("user_id") == "google-oauth2|alice"
        )
        assert '<script>alert(1)</script>"' in form.text


async def test_sso_session_skips_the_login_page_unless_forced(driver: Driver) -> None:
    first = await driver.sign_in("google-oauth2|alice")
    assert first.startswith(driver.APP_CB + "?code=")
    cookie = driver.http.cookies.get("auth0")
    assert cookie
    response = await authorize(driver, state="sso")
    assert response.headers["location"].startswith(driver.APP_CB + "?code=")
    driver.clock.advance(10)
    for forced in (
        {"prompt": "login"},
        {"max_age": "0"},
        {"max_age": "5"},
        {"connection": "github"},
    ):
        response = await driver.follow(await authorize(driver, **forced))
        assert response.status_code == 200, forced
        assert 'name="state"' in response.text  # a login page, not a redirect
    # max_age not yet passed: the session is reused.
    response = await authorize(driver, max_age="60")
    assert response.headers["location"].startswith(driver.APP_CB + "?code=")


async def test_the_session_cookie_is_http_only(driver: Driver) -> None:
    page = await driver.follow(await authorize(driver, connection="github"))
    response = await driver.pick(page, "github|1001")
    set_cookie = response.headers["set-cookie"].lower()
    assert "auth0=" in set_cookie and "httponly" in set_cookie and "samesite=lax" in set_cookie


async def test_connection_scope_is_recorded_on_the_identity(driver: Driver) -> None:
    await driver.sign_in("github|1001", connection="github", connection_scope="repo,gist")
    user = (await driver.http.get("/__admin/users/github|1001")).json()
    assert user["identities"][0]["granted_scopes"] == ["gist", "read:user", "repo", "user:email"]


async def test_every_query_parameter_reaches_the_action(
    driver: Driver, tmp_path: Path, make_driver: MakeDriver
) -> None:
    action = tmp_path / "echo.js"
    action.write_text(
        "exports.onExecutePostLogin = async (event, api) => {\n"
        "  api.idToken.setCustomClaim('https://t/query', event.request.query);\n"
        "  api.idToken.setCustomClaim('https://t/tx', event.transaction);\n"
        "  api.idToken.setCustomClaim('https://t/client', event.client);\n"
        "};\n"
    )
    async with make_driver(action_path=action) as d:
        tokens = await d.tokens(
            "github|1001", id_token_hint="hint", login_hint="x", ui_locales="fr"
        )
        claims = await d.verify(tokens["id_token"])
    query = claims["https://t/query"]
    assert (query["id_token_hint"], query["login_hint"], query["ui_locales"]) == ("hint", "x", "fr")
    tx = claims["https://t/tx"]
    assert tx["protocol"] == "oidc-basic-profile"
    assert tx["requested_scopes"] == ["openid", "profile", "email"]
    assert tx["redirect_uri"] == d.APP_CB
    assert claims["https://t/client"] == {"client_id": "demo-app", "name": "Demo App"}


async def test_logout_ends_the_session(driver: Driver) -> None:
    await driver.sign_in("google-oauth2|alice")
    response = await driver.http.get(
        "/v2/logout", params={"client_id": "demo-app", "returnTo": "http://app.test/"}
    )
    assert response.headers["location"] == "http://app.test/"
    response = await authorize(driver, prompt="none")
    assert driver.query_of(response.headers["location"])["error"] == "login_required"
    bad = await driver.http.get(
        "/v2/logout", params={"client_id": "demo-app", "returnTo": "http://evil.test/"}
    )
    assert bad.status_code == 400
    # As Auth0: one of the application's Allowed Logout URLs, not any URL of its origin.
    elsewhere = await driver.http.get(
        "/v2/logout", params={"client_id": "demo-app", "returnTo": "http://app.test/anything"}
    )
    assert elsewhere.status_code == 400
