"""Linking over real HTTP: the dev tenant runs the shim in Node, linker runs as deployed."""

from __future__ import annotations

import asyncio

import pytest

from linker.core.claims import LEEWAY
from linker.testing.stack import Stack
from tests.support.tenant_admin import link_as_administrator

pytestmark = pytest.mark.e2e

ALICE, GITHUB = "google-oauth2|alice", "github|1001"


def test_link_happy_path(e2e: Stack) -> None:
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        outcome = e2e.link(browser, alice.id_token, "github", choose=GITHUB)
    assert outcome.link_result == {
        "status": "linked",
        "identity": {"provider": "github", "user_id": "1001", "connection": "github"},
    }
    assert outcome.tokens is not None and outcome.tokens.claims["sub"] == ALICE
    assert e2e.identities(ALICE) == [ALICE, GITHUB]
    assert e2e.user(GITHUB) is None  # the secondary user is gone, as at Auth0
    user = e2e.user(ALICE)
    assert user is not None
    # primary-wins: Alice keeps her theme; GitHub's other keys are merged in, deeply.
    assert user["user_metadata"]["theme"] == "dark"
    assert user["user_metadata"]["github_handle"] == "alice-codes"
    assert user["user_metadata"]["preferences"] == {
        "language": "en",
        "newsletter": True,
        "timezone": "Europe/London",
    }
    assert user["app_metadata"] == {"plan": "free", "roles": ["reader"]}  # not merged by default
    audit = e2e.audit_lines()[-1]
    assert (audit["status"], audit["primary"], audit["secondary"]) == ("linked", ALICE, GITHUB)
    assert audit["secondary_metadata"]["app_metadata"] == {
        "plan": "pro",
        "github_org": "wonderland",
    }
    assert e2e.requests("POST", r"/api/v2/users/.*/identities") == 1


def test_already_linked(e2e: Stack) -> None:
    with e2e.browser() as browser:
        frank = e2e.sign_in(browser, "google-oauth2|frank")
        logins = e2e.requests("GET", "/login")
        outcome = e2e.link(browser, frank.id_token, "github", choose=None)
    assert outcome.link_result == {
        "status": "already_linked",
        "identity": {"provider": "github", "user_id": "1004", "connection": "github"},
    }
    assert e2e.requests("GET", "/login") == logins  # answered with no nested login


def test_same_account_when_linked_meanwhile(e2e: Stack) -> None:
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        request, page = e2e.start_link(browser, alice.id_token, "github")
        # In another tab the same GitHub account gets linked to Alice first...
        link_as_administrator(e2e, ALICE, "github", "1001")
        # ...so signing in with it now signs in as Alice herself.
        page = browser.submit(browser.form_with(user_id=GITHUB))
        outcome = e2e.resume(browser, page, request.code_verifier, "demo-app")
    assert outcome.error == "access_denied"
    assert outcome.code == "same_account"


def test_cancel_at_the_secondary_login(e2e: Stack) -> None:
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        request, page = e2e.start_link(browser, alice.id_token, "github")
        page = browser.submit(browser.form_with(action="cancel"))
        outcome = e2e.resume(browser, page, request.code_verifier, "demo-app")
    assert (outcome.error, outcome.code) == ("access_denied", "cancelled")
    assert e2e.identities(ALICE) == [ALICE]


def test_hint_for_another_user(e2e: Stack) -> None:
    with e2e.browser() as other:
        frank = e2e.sign_in(other, "google-oauth2|frank")
    with e2e.browser() as browser:
        e2e.sign_in(browser, ALICE)
        outcome = e2e.link(browser, frank.id_token, "github", choose=GITHUB)
    assert outcome.code == "sub_mismatch"
    assert e2e.identities(ALICE) == [ALICE]


def test_hint_too_old(e2e: Stack) -> None:
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        e2e.advance(700)
        outcome = e2e.link(browser, alice.id_token, "github", choose=GITHUB)
    assert outcome.code == "id_token_hint_too_old"


def test_expired_hint(e2e: Stack) -> None:
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        e2e.advance(36_000 + LEEWAY + 120)  # past its exp and the leeway
        outcome = e2e.link(browser, alice.id_token, "github", choose=GITHUB)
    assert outcome.code == "invalid_id_token_hint"
    assert "expired" in (outcome.error_description or "")


def test_client_not_allowed(e2e: Stack) -> None:
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE, client_id="other-app")
        outcome = e2e.link(browser, alice.id_token, "github", GITHUB, client_id="other-app")
    assert outcome.code == "client_not_allowed"


def test_unverified_secondary_email(e2e: Stack) -> None:
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        outcome = e2e.link(browser, alice.id_token, "github", choose="github|1002")
    assert outcome.code == "secondary_email_not_verified"
    assert e2e.user("github|1002") is not None


def test_secondary_with_linked_identities_of_its_own(e2e: Stack) -> None:
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        outcome = e2e.link(browser, alice.id_token, "github", choose="github|1003")
    assert outcome.code == "secondary_has_linked_identities"
    assert e2e.identities("github|1003") == ["github|1003", "windowslive|carol-msa"]


def test_management_api_conflict(e2e: Stack) -> None:
    e2e.fault(method="POST", path=r"/api/v2/users/.*/identities", kind="status", status=409)
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        outcome = e2e.link(browser, alice.id_token, "github", choose=GITHUB)
    assert outcome.code == "identity_conflict"
    user = e2e.user(ALICE)
    assert user is not None and "github_handle" not in user["user_metadata"]  # merge undone
    assert e2e.identities(ALICE) == [ALICE]


def test_rate_limited_link_succeeds_once(e2e: Stack) -> None:
    e2e.fault(
        method="POST",
        path=r"/api/v2/users/.*/identities",
        kind="rate_limit",
        retry_after=1,
        times=1,
    )
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        outcome = e2e.link(browser, alice.id_token, "github", choose=GITHUB)
    assert outcome.link_result is not None and outcome.link_result["status"] == "linked"
    assert e2e.identities(ALICE) == [ALICE, GITHUB]


def test_lost_answer_after_the_link_is_not_linked_twice(e2e: Stack) -> None:
    e2e.fault(method="POST", path=r"/api/v2/users/.*/identities", kind="drop", times=1)
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        outcome = e2e.link(browser, alice.id_token, "github", choose=GITHUB)
    assert outcome.link_result is not None and outcome.link_result["status"] == "linked"
    assert e2e.identities(ALICE) == [ALICE, GITHUB]


def test_nested_login_that_never_returns_leaves_nothing_behind(e2e: Stack) -> None:
    assert e2e.linker_app is not None  # linker runs in this process
    store = e2e.linker_app.state.runtime.attempts.store
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        _, page = e2e.start_link(browser, alice.id_token, "github")
        assert 'name="user_id"' in page.text  # at the GitHub login; the user walks away
        assert len(asyncio.run(store.scan("txn:"))) == 1
    e2e.advance(600 + 300 + 1)  # past the transaction's life and the store's grace
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        e2e.start_link(browser, alice.id_token, "github")
    assert len(asyncio.run(store.scan("txn:"))) == 1  # only the new attempt
    assert e2e.identities(ALICE) == [ALICE]
    assert e2e.user(GITHUB) is not None


def mallorys_start_url(e2e: Stack) -> str:
    """Mallory asks to link GitHub and keeps the start URL her browser was sent to."""
    with e2e.browser() as mallory:
        tokens = e2e.sign_in(mallory, "google-oauth2|dave")
        mallory.stop_at = e2e.linker_url + "/link/start"
        _, page = e2e.start_link(mallory, tokens.id_token, "github")
        location = page.headers["location"]
        assert location.startswith(e2e.linker_url + "/link/start?")
        return str(location)


def test_a_start_url_opened_in_another_browser_links_nothing(e2e: Stack) -> None:
    """Forced linking: Mallory sends her start URL to Alice, who signs in to GitHub. linker
    verifies and prepares, but the tenant resumes only in Mallory's browser: Alice's GitHub
    identity is never linked into Mallory's account."""
    url = mallorys_start_url(e2e)
    writes_before = e2e.requests("POST", r"/api/v2/users/.*/identities")
    with e2e.browser() as alice:
        page = alice.get(url)
        page = alice.submit(alice.form_with(user_id=GITHUB))
        assert "Link this account?" in page.text  # her own GitHub account: she agrees
        page = alice.submit(alice.form_with(choice="link"))
        assert page.status_code == 200 and "/continue" in page.text  # linker's resume page
        ended = alice.auto_submit()
    assert ended.status_code == 400 and "Invalid state" in ended.text
    assert e2e.requests("POST", r"/api/v2/users/.*/identities") == writes_before
    assert e2e.requests("PATCH", r"/api/v2/users/.*") == 0
    assert e2e.identities("google-oauth2|dave") == ["google-oauth2|dave"]
    github = e2e.user(GITHUB)
    assert github is not None and github["identities"][0]["user_id"] == "1001"


def test_a_replayed_start_url_gets_the_error_page(e2e: Stack) -> None:
    url = mallorys_start_url(e2e)
    with e2e.browser() as first:
        assert first.get(url).status_code == 200  # the nested login page
    with e2e.browser() as second:
        page = second.get(url)
    assert page.status_code == 400
    assert "<code>invalid_session_token</code>" in page.text
    assert "already used" in page.text
