"""The demo in a real browser: Debian's Chromium driven by Playwright.

Chromium comes from the system (`scripts/system-deps` installs it); Playwright never
downloads a browser here. A missing Chromium fails the test loudly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from linker.demo.cli import DemoUrls

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_alice_links_github_in_chromium(page: Page, demo_urls: DemoUrls, tmp_path: Path) -> None:
    page.goto(demo_urls.app)
    page.get_by_role("link", name="Sign in").click()
    page.get_by_role("button", name="google-oauth2").click()
    page.get_by_role("button", name="alice@example.com").click()
    expect(page.get_by_text("Hello, Alice Liddell")).to_be_visible()

    page.get_by_role("button", name="Link GitHub").click()
    # linker's nested login at GitHub; then linker's page posts back to the tenant by itself.
    page.get_by_role("button", name="alice-codes").click()
    page.wait_for_url(f"{demo_urls.app}/")

    expect(page.locator("p.note", has_text="Last attempt:")).to_contain_text("linked: github")
    expect(page.locator("td", has_text="github").first).to_be_visible()
    shot = tmp_path / "alice-linked-github.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 1000
