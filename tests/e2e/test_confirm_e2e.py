"""The silent nested login, over real HTTP: the browser still has a session at GitHub (the dev
tenant's provider session; here an attacker's account), so the nested login completes without
the user. linker shows the account before anything is joined; Cancel links nothing."""

from __future__ import annotations

import pytest

from linker.testing.stack import Stack

pytestmark = pytest.mark.e2e

ALICE, CAROL = "google-oauth2|alice", "github|1003"


def planted(e2e: Stack, browser: object) -> None:
    """The attacker's GitHub session, left in the victim's browser."""
    from linker.testing.browser import ScriptedBrowser

    assert isinstance(browser, ScriptedBrowser)
    url = f"{e2e.tenant_url}/__admin/provider-session?connection=github&user_id={CAROL}"
    assert browser.get(url).status_code == 200


def test_a_silent_login_shows_the_account_and_cancel_links_nothing(e2e: Stack) -> None:
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        planted(e2e, browser)
        before = len(browser.history)
        request, page = e2e.start_link(browser, alice.id_token, "github")
        # Nothing was submitted at the tenant: straight back to linker, which shows the account.
        assert not [h for h in browser.history[before:] if h.startswith("POST")]
        assert page.status_code == 200 and "Link this account?" in page.text
        assert "carol-builds" in page.text and "c***l@example.com" in page.text
        page = browser.submit(browser.form_with(choice="cancel"))
        outcome = e2e.resume(browser, page, request.code_verifier, "demo-app")
    assert outcome.code == "cancelled"
    assert e2e.identities(ALICE) == [ALICE]
    assert e2e.requests("POST", r"/api/v2/users/.*/identities") == 0


def test_without_a_provider_session_the_user_picks_the_account(e2e: Stack) -> None:
    with e2e.browser() as browser:
        alice = e2e.sign_in(browser, ALICE)
        _, page = e2e.start_link(browser, alice.id_token, "github")
    assert 'name="user_id"' in page.text  # the chooser: the provider asks who signs in
