"""With the dev tenant running the real shim: the nested login's ID token names the connection
used (as Auth0's `api.idToken.setCustomClaim` puts it), and a browser that rewrites the nested
`/authorize` to another connection is refused."""

from __future__ import annotations

import pytest

from linker.testing.stack import Stack

pytestmark = pytest.mark.e2e

FRANK, FRANK_GITHUB = "google-oauth2|frank", "github|1004"


def test_unlink_reauthenticated_at_another_linked_connection_is_refused(e2e: Stack) -> None:
    with e2e.browser() as browser:
        frank = e2e.sign_in(browser, FRANK)
        request, _ = e2e.start_link(browser, frank.id_token, "github", action="unlink")
        (nested,) = [h for h in browser.history if "/authorize" in h and "client_id=linker" in h]
        assert "connection=google-oauth2" in nested
        # The browser goes to GitHub instead: Frank's GitHub identity answers with his `sub`.
        url = nested.split(" ", 1)[1]  # history lines are "METHOD URL"
        browser.get(url.replace("connection=google-oauth2", "connection=github"))
        page = browser.submit(browser.form_with(user_id=FRANK_GITHUB))
        outcome = e2e.resume(browser, page, request.code_verifier, "demo-app")
    assert outcome.code == "login_connection_mismatch"
    assert e2e.identities(FRANK) == [FRANK, FRANK_GITHUB]
    assert e2e.requests("DELETE", r"/api/v2/users/.*/identities/.*") == 0
