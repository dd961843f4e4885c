"""The README's walk-through, over real HTTP against `linker demo`'s servers.

The dev tenant runs the real Action shim in Node, linker runs as `linker serve` would, and a
scripted browser clicks through the sample app exactly as a person would.
"""

from __future__ import annotations

import re

import pytest

from linker.demo.cli import DemoUrls
from linker.testing import ScriptedBrowser

pytestmark = pytest.mark.e2e


def page_text(browser: ScriptedBrowser) -> str:
    assert browser.page is not None
    return browser.page.text


def sign_in(browser: ScriptedBrowser, app: str, user_id: str) -> None:
    assert '<a class="button" href="/login">Sign in</a>' in browser.get(app).text
    browser.get(app + "/login")  # what the "Sign in" link does
    browser.submit(browser.form_with(connection=user_id.split("|")[0]))
    browser.submit(browser.form_with(user_id=user_id))
    assert ">Sign out</button>" in page_text(browser)


def test_alice_links_her_github_account(demo_urls: DemoUrls) -> None:
    with ScriptedBrowser() as browser:
        sign_in(browser, demo_urls.app, "google-oauth2|alice")
        assert "Hello, Alice Liddell" in page_text(browser)

        browser.submit(browser.form_saying("Link GitHub"))
        browser.submit(browser.form_with(user_id="github|1001"))  # alice-codes, at linker's login
        browser.submit(browser.form_with(choice="link"))  # linker shows the account: Link
        page = browser.auto_submit()  # linker's resume page posts to the tenant's /continue

        assert str(page.url) == f"{demo_urls.app}/"
        assert '<div class="note ok"' in page.text
        assert "Linked: github (github|1001)" in page.text
        assert "<td>github</td><td><code>1001</code></td>" in page.text


def test_a_refusal_comes_back_as_the_error_description(demo_urls: DemoUrls) -> None:
    with ScriptedBrowser() as browser:
        sign_in(browser, demo_urls.app, "windowslive|erin")

        browser.submit(browser.form_saying("Link GitHub"))
        browser.submit(browser.form_with(user_id="github|1002"))  # bob: email not verified
        page = browser.auto_submit()

        assert '<div class="note bad" role="status" data-kind="refused">' in page.text
        assert "Link refused: that account&#x27;s email is not verified" in page.text
        assert "<b>What to do next:</b> Verify the address at GitHub" in page.text
        assert "(code secondary_email_not_verified)" in page.text
        assert page.text.count("<tr><td>") == 1


def test_an_account_linked_to_another_user_is_refused_as_such(demo_urls: DemoUrls) -> None:
    # Runs before Frank unlinks github|1004 below: until then it is linked into Frank.
    with ScriptedBrowser() as browser:
        sign_in(browser, demo_urls.app, "google-oauth2|dave")

        login = browser.submit(browser.form_saying("Link GitHub"))
        # The tenant's note sits inside the button of the account it is about.
        assert re.search(
            r'value="github\|1004">\s*<button type="submit">[^<]*<br>'
            r'<span class="muted">already linked to user google-oauth2\|frank',
            login.text,
        ), login.text
        browser.submit(browser.form_with(user_id="github|1004"))
        browser.submit(browser.form_with(choice="link"))  # linker shows the account first
        page = browser.auto_submit()

        assert "Link refused: that account is already linked to another user" in page.text
        assert "(code linked_to_another_user)" in page.text
        assert "wrong kind of account" not in page.text


def test_frank_unlinks_github_after_signing_in_again(demo_urls: DemoUrls) -> None:
    with ScriptedBrowser() as browser:
        sign_in(browser, demo_urls.app, "google-oauth2|frank")
        assert 'name="identity" value="github|1004"' in page_text(browser)

        browser.submit(browser.form_saying("Unlink"))
        browser.submit(browser.form_with(user_id="google-oauth2|frank"))  # re-authentication
        page = browser.auto_submit()

        assert "Unlinked: github (github|1004)" in page.text
        assert "<td>github</td>" not in page.text


def test_the_agent_gets_a_calendar_token_once_the_user_connects_it(demo_urls: DemoUrls) -> None:
    with ScriptedBrowser() as browser:
        sign_in(browser, demo_urls.app, "google-oauth2|frank")

        page = browser.submit(browser.form_saying("Call the agent"))
        assert ">Connect Google Calendar</button>" in page.text
        browser.submit(browser.form_saying("Connect Google Calendar"))
        # Google is Frank's own connection: linker has him sign in there again for the scope.
        browser.submit(browser.form_with(user_id="google-oauth2|frank"))
        page = browser.auto_submit()
        # Clear feedback at once: the app asked Token Vault again on the way back.
        assert "Google Calendar connected" in page.text
        assert "linker had you sign in at Google again to grant it" in page.text
        assert_agent_got_calendar(page.text)
        page = browser.submit(browser.form_saying("Call the agent"))
        assert_agent_got_calendar(page.text)


def assert_agent_got_calendar(text: str) -> None:
    # Token Vault answers every scope the Google identity was granted; Calendar among them.
    got = re.search(r"The agent got a Google token \(scopes ([^)]*)\)\.", text)
    assert got is not None, text
    assert "https://www.googleapis.com/auth/calendar.readonly" in got[1].split()


def test_cancelling_an_unlink_says_the_account_stays_linked(demo_urls: DemoUrls) -> None:
    with ScriptedBrowser() as browser:
        sign_in(browser, demo_urls.app, "github|1003")  # carol, with Microsoft linked
        assert 'name="identity" value="windowslive|carol-msa"' in page_text(browser)

        browser.submit(browser.form_saying("Unlink"))
        browser.submit(browser.form_with(action="cancel"))  # at the re-authentication
        page = browser.auto_submit()  # linker resumes the login with the cancellation

        assert "Unlink cancelled" in page.text
        assert "so Microsoft is still linked" in page.text
        assert "the other account" not in page.text
        assert "<td>windowslive</td>" in page.text


def test_alice_connects_slack_through_the_my_account_api(demo_urls: DemoUrls) -> None:
    """The sample app gets a My Account API token from Alice's refresh token (MRRT), starts
    the connect flow, and completes it when the tenant sends the browser back."""
    with ScriptedBrowser() as browser:
        sign_in(browser, demo_urls.app, "google-oauth2|alice")
        page = browser.submit(browser.form_saying("Connect Slack"))
        assert "Connect slack" in page.text  # the tenant's connect page
        browser.submit(browser.form_with(action="allow"))
        text = page_text(browser)
        assert "slack connected" in text and "users:read" in text

        browser.submit(browser.form_saying("Connect Slack"))
        browser.submit(browser.form_with(action="deny"))
        assert "You did not allow the connection." in page_text(browser)
