"""The nested login is bound to the connection it asked for. Its `/authorize` goes through the
browser, so `connection=` can be rewritten; the shim names the connection actually used in the
ID token (`https://linker/connection`), and linker refuses any other one, for a link, an
unlink's re-authentication and a scope re-grant alike: `login_connection_mismatch`, and
nothing is prepared, linked or unlinked."""

from __future__ import annotations

from typing import Any

from linker.core.decisions import CONNECTION_CLAIM
from tests.service.test_unlink import linked_alice
from tests.support.harness import PRIMARY, SECONDARY, Harness, Linked, nested_state

GITHUB = {"provider": "github", "user_id": "1001", "connection": "github", "isSocial": True}


async def attempt(
    harness: Harness, sub: str, *, connection: str | None = None, **start: Any
) -> Linked:
    started = await harness.start(**start)
    assert started.status_code == 302, started.text
    code = harness.tenant.login(started.headers["location"], sub=sub, connection=connection)
    return await harness.finish(await harness.callback(code=code, state=nested_state(started)))


def assert_refused(linked: Linked) -> None:
    assert (linked.status, linked.error) == ("denied", "login_connection_mismatch")
    assert linked.committed is None  # nothing was prepared for the Action to commit


async def test_unlink_reauthentication_at_another_linked_connection_is_refused(
    harness: Harness,
) -> None:
    # Alice's GitHub identity is linked to her: signing in with it answers her own `sub`.
    user = linked_alice(harness)
    linked = await attempt(harness, PRIMARY, connection="github", action="unlink", user=user)
    assert_refused(linked)
    assert len(harness.tenant.users[PRIMARY]["identities"]) == 2
    assert harness.tenant.calls["DELETE identities"] == 0


async def test_unlink_reauthentication_at_the_primary_connection_goes_through(
    harness: Harness,
) -> None:
    user = linked_alice(harness)
    linked = await attempt(harness, PRIMARY, action="unlink", user=user)
    assert linked.status == "unlinked"


async def test_scope_regrant_after_a_login_at_another_connection_is_refused(
    harness: Harness,
) -> None:
    harness.tenant.users[PRIMARY]["identities"].append(GITHUB)
    user = {**harness.start_claims()["user"]}
    user["identities"] = [*user["identities"], GITHUB]
    # Asked to grant new GitHub scopes, the browser signs in at Google instead: same `sub`.
    linked = await attempt(
        harness,
        PRIMARY,
        connection="google-oauth2",
        user=user,
        requested_connection_scope="repo",
    )
    assert_refused(linked)


async def test_link_with_a_login_at_another_connection_is_refused(harness: Harness) -> None:
    harness.tenant.add_user("google-oauth2|mallory", email="alice@example.com")
    linked = await attempt(harness, "google-oauth2|mallory", connection="google-oauth2")
    assert_refused(linked)
    assert harness.tenant.calls["POST identities"] == 0


async def test_a_token_without_the_claim_is_refused(harness: Harness) -> None:
    """An Action that predates the claim (or a tenant without it) cannot be told apart from a
    rewritten login: refused, and the message says what to update."""
    started = await harness.start()
    claims = {CONNECTION_CLAIM: None}
    code = harness.tenant.login(started.headers["location"], sub=SECONDARY, **claims)
    linked = await harness.finish(await harness.callback(code=code, state=nested_state(started)))
    assert_refused(linked)
    assert "Action" in linked.result["error_description"]


async def test_the_claim_from_userinfo_does_not_count(harness: Harness) -> None:
    """Only the signed ID token says which connection was used."""
    started = await harness.start()
    code = harness.tenant.login(
        started.headers["location"], sub=SECONDARY, **{CONNECTION_CLAIM: None}
    )
    for info in harness.tenant.userinfo.values():
        info[CONNECTION_CLAIM] = {"name": "github", "strategy": "github"}
    linked = await harness.finish(await harness.callback(code=code, state=nested_state(started)))
    assert_refused(linked)
