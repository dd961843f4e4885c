"""The Resource Owner Password grant: a login without a browser, whose post-login Action sees
`event.transaction.protocol` `oauth2-resource-owner` and cannot redirect.

Sources: https://auth0.com/docs/api/authentication/resource-owner-password-flow/get-token and
the post-login event object (protocol values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.devtenant.conftest import Driver, MakeDriver

REALM = "http://auth0.com/oauth/grant-type/password-realm"
DAVE = {"username": "dave@example.com", "password": "dave-password-change-me-0123456789"}


async def password(d: Driver, **form: str) -> Any:
    data = {
        "grant_type": REALM,
        "realm": "Username-Password-Authentication",
        "client_id": "demo-app",
        "client_secret": d.SECRETS["demo-app"],
        "scope": "openid email offline_access",
        **DAVE,
        **form,
    }
    return await d.http.post("/oauth/token", data=data)


async def test_the_shim_lets_a_password_login_asking_to_link_through(driver: Driver) -> None:
    """Asking for link_account without a browser: the shim must skip, not redirect."""
    answer = await password(driver, scope="openid link_account offline_access")
    assert answer.status_code == 200, answer.text
    claims = await driver.verify(answer.json()["id_token"])
    assert claims["sub"] == "auth0|dave"
    assert "refresh_token" in answer.json()


async def test_an_action_that_redirects_fails_the_password_grant(
    tmp_path: Path, make_driver: MakeDriver
) -> None:
    action = tmp_path / "action.js"
    action.write_text(
        "exports.onExecutePostLogin = async (event, api) => {\n"
        '  api.accessToken.setCustomClaim("https://t/p", event.transaction.protocol);\n'
        '  api.accessToken.setCustomClaim("https://t/can", api.redirect.canRedirect());\n'
        '  if (event.request.body.username === "dave@example.com" && !api.redirect.canRedirect())'
        "    return;\n"
        '  api.redirect.sendUserTo("http://elsewhere.test/");\n'
        "};\n"
    )
    async with make_driver(action_path=action) as d:
        ok = await password(d)
        assert ok.status_code == 200, ok.text
        claims = await d.verify(ok.json()["access_token"])
        assert (claims["https://t/p"], claims["https://t/can"]) == ("oauth2-resource-owner", False)
    always = tmp_path / "always.js"
    always.write_text(
        "exports.onExecutePostLogin = async (event, api) => {"
        ' api.redirect.sendUserTo("http://elsewhere.test/"); };\n'
    )
    async with make_driver(action_path=always) as d:
        refused = await password(d)
        assert (refused.status_code, refused.json()["error"]) == (403, "access_denied")
        assert "password grant" in refused.json()["error_description"]


async def test_password_grant_refusals(driver: Driver) -> None:
    wrong = await password(driver, password="nope")
    assert (wrong.status_code, wrong.json()) == (
        403,
        {"error": "invalid_grant", "error_description": "Wrong email or password."},
    )
    social = await password(driver, realm="github")
    assert (social.status_code, social.json()["error"]) == (400, "invalid_request")
    no_realm = await password(driver, realm="")
    assert no_realm.status_code == 400
    default = await password(driver, grant_type="password", realm="")
    assert default.status_code == 200, default.text  # the seed's default directory
