"""The demo in a real browser: Debian's Chromium driven by Playwright.

Chromium comes from the system (`scripts/system-deps` installs it); Playwright never
downloads a browser here. A missing Chromium fails the test loudly.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from linker.demo.cli import DemoUrls

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium reaches for Google's services at start; this network is closed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        raise RuntimeError("Chromium is not installed; run scripts/system-deps")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


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
