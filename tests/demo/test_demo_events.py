"""`linker demo`'s sample app receives linker's events: the rows it kept under GitHub's user
id move to Alice's once she links GitHub, over real HTTP (the real shim in Node)."""

from __future__ import annotations

import time

import pytest

from linker.demo.cli import DemoUrls
from linker.testing import ScriptedBrowser
from tests.demo.test_demo_walkthrough import page_text, sign_in

pytestmark = pytest.mark.e2e


def test_a_link_moves_the_apps_rows_to_the_primary(demo_urls: DemoUrls) -> None:
    with ScriptedBrowser() as browser:
        sign_in(browser, demo_urls.app, "github|1001")  # a row under github|1001
        assert page_text(browser).count("signed in at") == 1
        browser.submit(browser.form_saying("Sign out"))
    with ScriptedBrowser() as browser:
        sign_in(browser, demo_urls.app, "google-oauth2|alice")
        browser.submit(browser.form_saying("Link GitHub"))
        browser.submit(browser.form_with(user_id="github|1001"))
        browser.submit(browser.form_with(choice="link"))
        page = browser.auto_submit()
        assert "Linked: github (github|1001)" in page.text
        deadline = time.monotonic() + 10
        moved = "moved 1 row(s) from github|1001 to google-oauth2|alice"
        while moved not in (text := browser.get(demo_urls.app + "/").text):
            assert time.monotonic() < deadline, "the event did not arrive"
            time.sleep(0.1)
        assert "identity.linked: " + moved in text
        assert text.count("signed in at") == 2  # Alice's own row and GitHub's, moved
