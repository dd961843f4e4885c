"""The link path end to end through the public routes, tenant faked."""

from __future__ import annotations

import re

from linker.core.action_tokens import RESULT_TOKEN_LIFETIME
from linker.core.claims import LEEWAY
from linker.testing import query_of
from tests.support.fake_tenant import APP_CLIENT
from tests.support.harness import PRIMARY, SECONDARY, Harness, nested_state, read_resume


async def test_start_redirects_to_nested_authorize(harness: Harness) -> None:
    started = await harness.start(requested_connection_scope="repo read:user")
    assert started.status_code == 302
    location = started.headers["location"]
    assert location.startswith("https://tenant.test/authorize?")
    params = query_of(location)
    assert params["client_id"] == "linker-client"
    assert params["response_type"] == "code"
    assert params["redirect_uri"] == "https://linker.test/link/callback"
    assert params["scope"] == "openid profile email"
    assert params["connection"] == "github"
    assert params["connection_scope"] == "repo read:user"
    assert params["prompt"] == "login"
    assert params["max_age"] == "0"
    assert params["code_challenge_method"] == "S256"
    assert len(params["state"]) >= 43 and len(params["nonce"]) >= 43
    cookie = started.headers["set-cookie"]
    assert re.fullmatch(
        # The transaction id (its user's hash tag, then 43 random characters), signed.
        r"__Host-linker_txn_[0-9a-f]{16}=[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{43}"
        r"\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+; "
        r"Max-Age=600; Path=/; HttpOnly; SameSite=Lax; Secure",
        cookie,
    )
    assert started.headers["referrer-policy"] == "no-referrer"


async def test_link_happy_path(harness: Harness) -> None:
    response = await harness.link_callback()
    resumed = read_resume(response)
    assert resumed.action == "https://tenant.test/continue"
    assert resumed.state == harness.outer_state
    assert resumed.status == "pending"
    github = {"provider": "github", "user_id": "1001", "connection": "github"}
    assert resumed.result["identity"] == github
    claims = resumed.claims
    assert claims["sub"] == PRIMARY
    assert claims["iss"] == "https://linker.test"
    assert claims["exp"] == claims["iat"] + RESULT_TOKEN_LIFETIME + LEEWAY  # skew tolerated
    assert claims["linker_v"] == 2 and claims["jti"] and len(claims["commit"]) >= 43
    # The callback prepares; nothing is written before the Action commits.
    assert harness.tenant.calls["GET user"] + harness.tenant.calls["POST identities"] == 0
    committed = await harness.commit(resumed.commit)
    assert committed.status_code == 200
    assert committed.json() == {
        "status": "linked",
        "error": None,
        "error_description": None,
        "identity": github,
    }
    primary = harness.tenant.users[PRIMARY]
    assert [i["user_id"] for i in primary["identities"]] == ["alice", "1001"]
    assert SECONDARY not in harness.tenant.users
    # primary-wins deep merge: the secondary's non-conflicting keys are kept.
    assert primary["user_metadata"] == {"theme": "dark", "github": {"handle": "alice"}}
    assert harness.tenant.calls["POST identities"] == 1
    # The transaction cookie is cleared on the way out.
    assert re.fullmatch(
        r"__Host-linker_txn_[0-9a-f]{16}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
        r"Path=/; HttpOnly; SameSite=Lax; Secure",
        response.headers["set-cookie"],
    )
    assert "script-src 'sha256-" in response.headers["content-security-policy"]


async def test_resume_page_works_without_javascript(harness: Harness) -> None:
    response = await harness.link_callback()
    assert '<button type="submit">Continue</button>' in response.text


async def test_already_linked_answers_at_once(harness: Harness) -> None:
    user = harness.start_claims()["user"]
    user["identities"].append(
        {"provider": "github", "user_id": "1001", "connection": "github", "isSocial": True}
    )
    response = await harness.start(user=user)
    resumed = read_resume(response)
    assert resumed.status == "already_linked"
    assert resumed.result["identity"]["user_id"] == "1001"
    assert harness.tenant.calls["POST identities"] == 0


async def test_already_linked_found_at_callback(harness: Harness) -> None:
    started = await harness.start()
    # Linked meanwhile (another tab): the callback sees it among the primary's identities.
    harness.tenant.users[PRIMARY]["identities"].append(
        {"provider": "github", "user_id": "1001", "connection": "github", "isSocial": True}
    )
    code = harness.tenant.login(started.headers["location"], sub=SECONDARY)
    linked = await harness.finish(await harness.callback(code=code, state=nested_state(started)))
    assert linked.status == "already_linked"
    assert harness.tenant.calls["POST identities"] == 0


async def test_two_tabs_do_not_break_each_other(harness: Harness) -> None:
    first = await harness.start()
    second = await harness.start()
    assert first.headers["set-cookie"].split("=")[0] != second.headers["set-cookie"].split("=")[0]
    code = harness.tenant.login(first.headers["location"], sub=SECONDARY)
    linked = await harness.finish(await harness.callback(code=code, state=nested_state(first)))
    assert linked.status == "linked"
    harness.tenant.add_user("github|2002", email="alice@example.com")
    code = harness.tenant.login(second.headers["location"], sub="github|2002")
    linked = await harness.finish(await harness.callback(code=code, state=nested_state(second)))
    assert linked.status == "linked"


async def test_start_token_signed_with_old_secret_is_accepted(harness: Harness) -> None:
    from tests.support.harness import OLD_SECRET, hs256

    token = hs256(harness.start_claims(), secret=OLD_SECRET)
    assert (await harness.start(token)).status_code == 302


async def test_client_allow_list_admits_listed_client(harness: Harness) -> None:
    assert harness.start_claims()["client_id"] == APP_CLIENT
    assert (await harness.start()).status_code == 302


async def test_primary_connection_is_already_linked(harness: Harness) -> None:
    resumed = read_resume(await harness.start(requested_connection="google-oauth2"))
    assert resumed.status == "already_linked"
    assert resumed.result["identity"]["connection"] == "google-oauth2"


async def test_linked_connection_with_new_scopes_signs_in_again(harness: Harness) -> None:
    """Token Vault wants new scopes on a connection already linked: the nested login grants
    them (connection_scope) and the answer is already_linked, with nothing written."""
    started = await harness.start(
        requested_connection="google-oauth2",
        requested_connection_scope="https://www.googleapis.com/auth/calendar.readonly",
    )
    assert started.status_code == 302
    params = query_of(started.headers["location"])
    assert params["connection"] == "google-oauth2"
    assert params["connection_scope"] == "https://www.googleapis.com/auth/calendar.readonly"
    code = harness.tenant.login(started.headers["location"], sub=PRIMARY)
    resumed = read_resume(await harness.callback(code=code, state=nested_state(started)))
    assert resumed.status == "already_linked"
    assert resumed.result["identity"]["user_id"] == "alice"
    assert harness.tenant.calls["POST identities"] == 0
    assert harness.tenant.calls["PATCH user"] == 0
