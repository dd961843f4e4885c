"""The sample web app in a real browser: Debian's Chromium driven by Playwright.

Chromium comes from the system (`scripts/system-deps` installs it); Playwright never
downloads a browser here. A missing Chromium fails the test loudly. Screenshots:
`.cache/screenshots/<test name>/`.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from linker.demo.cli import DemoUrls
from tests.demo.chromium import Screenshots

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def sign_in(page: Page, urls: DemoUrls, connection: str, email: str) -> None:
    page.goto(urls.app)
    page.get_by_role("link", name="Sign in").click()
    page.get_by_role("button", name=connection).click()
    page.get_by_role("button", name=email).click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_alice_links_github_in_chromium(
    page: Page, demo_urls: DemoUrls, shots: Screenshots
) -> None:
    answers: list[tuple[str, int]] = []
    page.on("response", lambda r: answers.append((r.url, r.status)))
    page.goto(demo_urls.app)
    expect(page.get_by_role("link", name=demo_urls.spa)).to_be_visible()  # the SPA, beside it
    sign_in(page, demo_urls, "google-oauth2", "alice@example.com")
    expect(page.get_by_text("Hello, Alice Liddell")).to_be_visible()

    page.get_by_role("button", name="Link GitHub").click()
    # linker's nested login at GitHub says who asks and why, and names linker properly.
    expect(page.locator(".purpose")).to_contain_text("Demo App asked to link a github account")
    expect(page.get_by_text("to continue to Account linking (linker)")).to_be_visible()
    shots.take(page, "nested-login-says-why")
    page.get_by_role("button", name="alice-codes").click()
    # linker shows the account before it is joined.
    expect(page.get_by_role("heading", name="Link this account?")).to_be_visible()
    expect(page.get_by_text("alice-codes")).to_be_visible()
    shots.take(page, "account-shown")
    page.get_by_role("button", name="Link", exact=True).click()
    page.wait_for_url(f"{demo_urls.app}/")

    notice = page.locator("[role=status]")
    expect(notice).to_have_attribute("data-kind", "ok")
    expect(notice).to_contain_text("Linked: github (github|1001)")
    expect(page.locator("td", has_text="github").first).to_be_visible()
    expect(page.get_by_text("Linking is two-phase (protocol v2)")).to_be_visible()
    shots.take(page, "linked")
    assert [url for url, status in answers if status == 404] == []

    # Back, after the link, asks linker for the nested login's callback again: it says that
    # sign-in is over. Back once more shows the nested login's page (from the browser's
    # cache); using it, the tenant says the login is over and leads back to the app.
    page.go_back()
    expect(page.get_by_text("already finished in this one")).to_be_visible()
    page.go_back()
    page.get_by_role("button", name="alice-codes").click()
    expect(page.get_by_role("heading", name="Invalid state")).to_be_visible()
    expect(page.get_by_text("Return to Demo App")).to_be_visible()
    shots.take(page, "back-after-the-link")
    page.get_by_role("link", name=f"{demo_urls.app}/").click()
    expect(page.get_by_text("Hello, Alice Liddell")).to_be_visible()


def test_a_refused_link_looks_like_a_refusal(
    page: Page, demo_urls: DemoUrls, shots: Screenshots
) -> None:
    sign_in(page, demo_urls, "windowslive", "erin@example.com")
    page.get_by_role("button", name="Link GitHub").click()
    page.get_by_role("button", name="bob-unverified").click()
    page.wait_for_url(f"{demo_urls.app}/")

    notice = page.locator("[role=status]")
    expect(notice).to_have_attribute("data-kind", "refused")
    expect(notice).to_have_class("note bad")
    expect(notice).to_contain_text("Link refused: that account's email is not verified")
    expect(notice).to_contain_text("What to do next:")
    shots.take(page, "refused")


def test_cancelling_an_unlink_keeps_the_account_and_says_so(
    page: Page, demo_urls: DemoUrls, shots: Screenshots
) -> None:
    sign_in(page, demo_urls, "github", "carol@example.com")
    page.get_by_role("button", name="Unlink").click()
    # The re-authentication says why it appears.
    expect(page.locator(".purpose")).to_contain_text("needs proof that it is you")
    shots.take(page, "reauthentication-says-why")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(f"{demo_urls.app}/")

    notice = page.locator("[role=status]")
    expect(notice).to_have_attribute("data-kind", "info")
    expect(notice).to_contain_text("Unlink cancelled")
    expect(notice).to_contain_text("so Microsoft is still linked")
    expect(notice).not_to_contain_text("the other account")
    shots.take(page, "unlink-cancelled")


def test_connecting_google_calendar_reports_what_the_agent_got(
    page: Page, demo_urls: DemoUrls, shots: Screenshots
) -> None:
    sign_in(page, demo_urls, "google-oauth2", "frank@example.com")
    page.get_by_role("button", name="Call the agent").click()
    page.get_by_role("button", name="Connect Google Calendar").click()
    expect(page.locator(".purpose")).to_contain_text("also asks google-oauth2 for")
    shots.take(page, "connect-sign-in-says-why")
    page.get_by_role("button", name="frank@example.com").click()
    page.wait_for_url(f"{demo_urls.app}/")

    notice = page.locator("[role=status]")
    expect(notice).to_have_attribute("data-kind", "ok")
    expect(notice).to_contain_text("Google Calendar connected")
    expect(notice).to_contain_text("calendar.readonly")
    shots.take(page, "calendar-connected")
