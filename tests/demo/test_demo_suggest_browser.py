"""Suggested linking in the demo (`make demo` runs it with `--suggest suggest`), in Chromium:
a second sign-up is offered the link, proves control of the older account, and the sample
app shows the surviving user."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from linker.demo.cli import DemoUrls, demo_servers, listen, parse_args
from tests.demo.chromium import Screenshots

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def suggest_urls() -> Iterator[DemoUrls]:
    """The demo's four servers on free ports, as `make demo` runs them."""
    args = parse_args(
        [
            *("--tenant-port", "0", "--linker-port", "0", "--app-port", "0", "--spa-port", "0"),
            *("--suggest", "suggest"),
        ]
    )
    urls, sockets = listen(args)
    servers = demo_servers(urls, sockets, suggest=args.suggest)
    exit_codes: list[int] = []
    thread = threading.Thread(
        target=lambda: exit_codes.append(asyncio.run(servers.run())), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not servers.ready.is_set():
        assert thread.is_alive() and time.monotonic() < deadline, "the demo did not start"
        time.sleep(0.02)
    yield urls
    servers.stop()
    thread.join(timeout=20)
    assert exit_codes == [0]


def test_a_second_sign_up_is_offered_the_link(
    page: Page, suggest_urls: DemoUrls, shots: Screenshots
) -> None:
    page.goto(suggest_urls.app)
    page.get_by_role("link", name="Sign in").click()
    page.get_by_role("button", name="github").click()
    page.get_by_role("button", name="grace-h").click()

    # linker's offer: the connection of the older account, never its email or id.
    expect(page.get_by_role("heading", name="You already have an account")).to_be_visible()
    offer = page.get_by_role("button", name="Sign in with your email and password to link")
    expect(offer).to_have_count(1)  # the unverified account with Grace's address is not offered
    expect(page.get_by_role("button", name="Not now")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("@")
    shots.take(page, "offer")

    offer.click()
    page.get_by_role("button", name="Grace Hopper").click()
    page.wait_for_url(f"{suggest_urls.app}/")

    # The app is signed in as the surviving, older user, with both identities.
    expect(page.get_by_text("Hello, Grace Hopper")).to_be_visible()
    expect(page.get_by_text("user id auth0|grace")).to_be_visible()
    notice = page.locator("[role=status]")
    expect(notice).to_contain_text("Your accounts are now one")
    expect(notice).to_contain_text("github (github|1005)")
    expect(page.locator("td", has_text="github").first).to_be_visible()
    shots.take(page, "linked")
