"""Unlinking over real HTTP: the primary signs in again at its own connection, then DELETE."""

from __future__ import annotations

import pytest

from linker.core.claims import LEEWAY
from linker.testing.stack import Stack

pytestmark = pytest.mark.e2e

FRANK, FRANK_GITHUB = "google-oauth2|frank", "github|1004"


def test_unlink_happy_path(e2e: Stack) -> None:
    with e2e.browser() as browser:
        frank = e2e.sign_in(browser, FRANK)
        request, page = e2e.start_link(browser, frank.id_token, "github", action="unlink")
        # Re-authentication happens at Frank's primary connection, not at GitHub.
        nested = [h for h in browser.history if "/authorize" in h and "client_id=linker" in h]
        assert len(nested) == 1 and "connection=google-oauth2" in nested[0]
        page = browser.submit(browser.form_with(user_id=FRANK))
        outcome = e2e.resume(browser, page, request.code_verifier, "demo-app")
    assert outcome.link_result == {
        "status": "unlinked",
        "identity": {"provider": "github", "user_id": "1004", "connection": "github"},
    }
    assert e2e.identities(FRANK) == [FRANK]
    assert e2e.identities(FRANK_GITHUB) == [FRANK_GITHUB]  # a standalone user again
    audit = e2e.audit_lines()[-1]
    assert (audit["action"], audit["status"], audit["secondary"]) == (
        "unlink",
        "unlinked",
        FRANK_GITHUB,
    )


def test_unlink_of_the_primary_identity_is_refused(e2e: Stack) -> None:
    with e2e.browser() as browser:
        frank = e2e.sign_in(browser, FRANK)
        outcome = e2e.link(browser, frank.id_token, "google-oauth2", None, action="unlink")
    assert outcome.code == "primary_identity"
    assert e2e.identities(FRANK) == [FRANK, FRANK_GITHUB]


def test_unlink_of_a_connection_not_linked_is_refused(e2e: Stack) -> None:
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, "google-oauth2|alice")
        outcome = e2e.link(browser, alice.id_token, "github", None, action="unlink")
    assert outcome.code == "identity_not_linked"


def test_reauthentication_as_another_user_is_refused(e2e: Stack) -> None:
    with e2e.browser() as browser:
        frank = e2e.sign_in(browser, FRANK)
        outcome = e2e.link(
            browser, frank.id_token, "github", "google-oauth2|alice", action="unlink"
        )
    assert outcome.code == "reauthentication_failed"
    assert e2e.identities(FRANK) == [FRANK, FRANK_GITHUB]
    assert e2e.requests("DELETE", r"/api/v2/users/.*/identities/.*") == 0


def test_unlink_with_an_expired_hint_is_refused(e2e: Stack) -> None:
    with e2e.browser() as browser:
        frank = e2e.sign_in(browser, FRANK)
        e2e.advance(36_000 + LEEWAY + 120)  # past its exp and the leeway
        outcome = e2e.link(browser, frank.id_token, "github", FRANK, action="unlink")
    assert outcome.code == "invalid_id_token_hint"
    assert e2e.identities(FRANK) == [FRANK, FRANK_GITHUB]
