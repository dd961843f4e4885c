"""What suggested linking needs from the dev tenant, as Auth0 documents it.

- `GET /api/v2/users-by-email`: exact and case-sensitive; database users' emails are stored in
  lower case (https://auth0.com/docs/manage-users/user-search/retrieve-users-with-get-users-by-email-endpoint).
- `api.authentication.setPrimaryUser`: the login ends as the primary, which must hold the
  identity signed in with; once per transaction
  (https://auth0.com/docs/customize/actions/explore-triggers/signup-and-login-triggers/login-trigger/post-login-api-object).
"""

from __future__ import annotations

from pathlib import Path

from linker.testing import query_of
from tests.devtenant.conftest import APP_CB, Driver, MakeDriver
from tests.devtenant.test_devtenant_action_api import action


async def test_users_by_email_is_exact_and_case_sensitive(driver: Driver) -> None:
    lower = await driver.api("GET", "users-by-email", params={"email": "grace@example.com"})
    assert lower.status_code == 200
    assert [u["user_id"] for u in lower.json()] == ["auth0|grace-early", "auth0|grace"]
    assert [u["email_verified"] for u in lower.json()] == [False, True]
    assert lower.json()[0]["created_at"] < lower.json()[1]["created_at"]  # seed order
    mixed = await driver.api("GET", "users-by-email", params={"email": "Grace@Example.com"})
    assert [u["user_id"] for u in mixed.json()] == ["github|1005"]
    upper = await driver.api("GET", "users-by-email", params={"email": "GRACE@EXAMPLE.COM"})
    assert upper.json() == []


async def test_users_by_email_needs_an_email_and_a_token(driver: Driver) -> None:
    missing = await driver.api("GET", "users-by-email")
    assert missing.status_code == 400
    anonymous = await driver.http.get("/api/v2/users-by-email", params={"email": "a@b.c"})
    assert anonymous.status_code == 401


FRANK, FRANK_GITHUB = "google-oauth2|frank", "github|1004"  # GitHub is linked into Frank


def _switching_action(tmp_path: Path, *, on_continue: bool = False) -> Path:
    """Makes the user named in the query (`primary`) the login's primary; with `on_continue`,
    also redirects and does it again at /continue."""
    switch = "api.authentication.setPrimaryUser(event.request.query.primary);\n"
    if not on_continue:
        return action(tmp_path, switch)
    again = f'api.authentication.setPrimaryUser("{FRANK}");'
    return action(tmp_path, switch + 'api.redirect.sendUserTo("https://elsewhere.test/x");', again)


async def test_set_primary_user_ends_the_login_as_the_primary(
    tmp_path: Path, make_driver: MakeDriver
) -> None:
    async with make_driver(action_path=_switching_action(tmp_path)) as d:
        # Signing in with Frank's linked GitHub identity: the primary holds that identity.
        done = await d.sign_in(FRANK_GITHUB, primary=FRANK)
        assert done.startswith(APP_CB) and "code=" in done, done
        tokens = await d.exchange(done)
        assert (await d.verify(tokens.json()["id_token"]))["sub"] == FRANK


async def test_set_primary_user_to_a_user_without_this_identity_fails_the_login(
    tmp_path: Path, make_driver: MakeDriver
) -> None:
    async with make_driver(action_path=_switching_action(tmp_path)) as d:
        refused = query_of(await d.sign_in(FRANK_GITHUB, primary="auth0|dave"))
        assert refused["error"] == "access_denied"
        assert "not linked to that user" in refused["error_description"]


async def test_set_primary_user_is_once_per_transaction(
    tmp_path: Path, make_driver: MakeDriver
) -> None:
    async with make_driver(action_path=_switching_action(tmp_path, on_continue=True)) as d:
        away = await d.sign_in(FRANK_GITHUB, primary=FRANK)
        assert away.startswith("https://elsewhere.test/x"), away
        refused = query_of(await d.resume(away, "unused"))
        assert refused["error"] == "access_denied"
        assert "once per transaction" in refused["error_description"]
