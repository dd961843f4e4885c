"""The single-page sample in Chromium: the unmodified auth0-spa-js against the dev tenant.

Sign in, link GitHub, see the result claim, the identities and the API's stable `sub`,
unlink after signing in again, and a refused link (another user's ID token as the hint).
auth0-spa-js is installed from npm into `.cache/` by the demo itself on first use.
Screenshots: `.cache/screenshots/<test name>/`.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Page, Response, expect

from linker.demo.cli import DemoUrls
from tests.demo.chromium import Screenshots

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def sign_in(page: Page, urls: DemoUrls, email: str, connection: str = "google-oauth2") -> None:
    page.goto(urls.spa)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name=f"Continue with {connection}").click()
    page.get_by_role("button", name=email).click()
    page.wait_for_url(f"{urls.spa}/")


def test_alice_links_and_unlinks_github_from_the_spa(
    page: Page, demo_urls: DemoUrls, shots: Screenshots
) -> None:
    token_calls: list[tuple[str, int, str | None]] = []

    def record(response: Response) -> None:
        if response.url == f"{demo_urls.tenant}/oauth/token" and response.request.method == "POST":
            grant = parse_qs(response.request.post_data or "").get("grant_type", [""])[0]
            origin = response.headers.get("access-control-allow-origin")
            token_calls.append((grant, response.status, origin))

    page.on("response", record)
    page.goto(demo_urls.spa)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_text("@auth0/auth0-spa-js 2.27.0")).to_be_visible()
    expect(page.locator("#web-app-link")).to_have_attribute("href", demo_urls.app)
    shots.take(page, "spa-signed-out")

    sign_in(page, demo_urls, "alice@example.com")
    expect(page.locator("#hello")).to_have_text("Hello, Alice Liddell")
    expect(page.locator("#identities tbody tr")).to_have_count(1)
    expect(page.locator("#api-sub")).to_contain_text("sees sub google-oauth2|alice")
    shots.take(page, "spa-signed-in")

    page.get_by_role("button", name="Link GitHub", exact=True).click()
    # linker's nested login at GitHub: the tenant's page says who asks, and why.
    expect(page.get_by_role("heading", name="Sign in with github")).to_be_visible()
    expect(page.locator(".purpose")).to_contain_text("Demo SPA")
    expect(page.locator(".purpose")).to_contain_text("link")
    expect(page.get_by_text("Account linking (linker)").first).to_be_visible()
    shots.take(page, "nested-login-for-the-link")
    page.get_by_role("button", name="alice-codes").click()
    page.get_by_role("button", name="Link", exact=True).click()  # the account shown: Link
    page.wait_for_url(f"{demo_urls.spa}/")

    notice = page.locator("#notice")
    expect(notice).to_have_attribute("data-kind", "ok")
    expect(notice).to_contain_text("Linked: GitHub (github|1001)")
    expect(page.locator("#claim")).to_contain_text('"status": "linked"')
    expect(page.locator("#identities tbody tr")).to_have_count(2)
    expect(page.locator("#api-stable")).to_contain_text(
        "saw sub google-oauth2|alice, and with a new access token after it, the same sub"
    )
    shots.take(page, "spa-linked")
    # The banner is the result of that link, shown once: not after a reload, nor beside the
    # next action's outcome.
    page.reload()
    expect(page.locator("#identities tbody tr")).to_have_count(2)
    expect(notice).to_be_hidden()
    page.goto(demo_urls.spa)
    expect(page.locator("#hello")).to_have_text("Hello, Alice Liddell")
    expect(notice).to_be_hidden()

    page.locator("#identities tbody tr", has_text="github").get_by_role(
        "button", name="Unlink"
    ).click()
    # Unlinking re-authenticates the primary: the page says so.
    expect(page.locator(".purpose")).to_contain_text("unlink")
    expect(page.locator(".purpose")).to_contain_text("sign in again")
    shots.take(page, "reauthentication-for-the-unlink")
    page.get_by_role("button", name="alice@example.com").click()
    page.wait_for_url(f"{demo_urls.spa}/")

    expect(notice).to_have_attribute("data-kind", "ok")
    expect(notice).to_contain_text("Unlinked: GitHub (github|1001)")
    expect(page.locator("#identities tbody tr")).to_have_count(1)
    expect(page.locator("#claim")).to_contain_text('"status": "unlinked"')
    shots.take(page, "spa-unlinked")

    # The SDK redeemed codes and used (rotating) refresh tokens across origins, each answer
    # readable by the page through CORS.
    grants = {grant for grant, _, _ in token_calls}
    assert {"authorization_code", "refresh_token"} <= grants, token_calls
    assert all(status == 200 and origin == demo_urls.spa for _, status, origin in token_calls)


def test_a_link_in_a_popup_comes_back_by_web_message(
    page: Page, demo_urls: DemoUrls, shots: Screenshots
) -> None:
    # Dave (a database user) links GitHub in a popup: carol-builds is refused, alice-codes
    # links; then he unlinks it again, so the other tests find alice-codes on its own.
    sign_in(page, demo_urls, "dave@example.com", connection="Username-Password-Authentication")
    expect(page.locator("#hello")).to_have_text("Hello, Dave Database")
    notice = page.locator("#notice")
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Link GitHub in a popup").click()
    opened.value.close()  # the SDK's own error: "cancelled", "Popup closed"
    expect(notice).to_have_attribute("data-kind", "info")
    expect(notice).to_contain_text("Link cancelled")
    expect(notice).not_to_contain_text("Popup closed")

    with page.expect_popup() as opened:
        page.get_by_role("button", name="Link GitHub in a popup").click()
    popup = opened.value
    expect(popup.locator(".purpose")).to_contain_text("Demo SPA asked to link a github account")
    shots.take(popup, "popup-nested-login")
    popup.get_by_role("button", name="carol-builds").click()  # has its own linked account
    popup.get_by_role("button", name="Link", exact=True).click()
    expect(notice).to_have_attribute("data-kind", "bad")
    expect(notice).to_contain_text("Link refused: that account has its own linked accounts")
    shots.take(page, "popup-refused")
    page.get_by_role("button", name="Call the API").click()
    expect(notice).to_be_hidden()  # the refusal was the last action's, not this one's

    with page.expect_popup() as opened:
        page.get_by_role("button", name="Link GitHub in a popup").click()
    # The same browser's session again: the first popup's /continue gave Dave's session back.
    opened.value.get_by_role("button", name="alice-codes").click()
    opened.value.get_by_role("button", name="Link", exact=True).click()
    expect(notice).to_have_attribute("data-kind", "ok")
    expect(notice).to_contain_text("Linked: GitHub (github|1001)")
    expect(page.locator("#identities tbody tr")).to_have_count(2)
    expect(page.locator("#api-stable")).to_contain_text("the same sub and the same record")
    shots.take(page, "popup-linked")

    page.locator("#identities tbody tr", has_text="github").get_by_role(
        "button", name="Unlink"
    ).click()
    page.get_by_role("button", name="dave@example.com").click()
    page.wait_for_url(f"{demo_urls.spa}/")
    expect(notice).to_contain_text("Unlinked: GitHub (github|1001)")


def test_silent_authentication_answers_the_sdk_by_web_message(
    page: Page, demo_urls: DemoUrls
) -> None:
    # Without refresh tokens the SDK asks in a hidden iframe (prompt=none,
    # response_mode=web_message). The tenant's session cookie is SameSite=Lax and the iframe is
    # cross-site, so the answer is login_required, posted to the page; a tenant without
    # web_message would leave the SDK waiting until its timeout instead.
    page.goto(demo_urls.spa)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    error = page.evaluate(
        """async (settings) => {
            const silent = await auth0.createAuth0Client({
                domain: settings.domain, clientId: settings.clientId,
                authorizationParams: {redirect_uri: settings.redirectUri},
                authorizeTimeoutInSeconds: 15,
            });
            try { await silent.getTokenSilently({cacheMode: "off"}); return "no error"; }
            catch (e) { return e.error || e.message; }
        }""",
        {"domain": demo_urls.tenant, "clientId": "demo-spa", "redirectUri": demo_urls.spa + "/"},
    )
    assert error == "login_required"


def test_a_link_with_another_users_id_token_is_refused(
    page: Page, demo_urls: DemoUrls, shots: Screenshots
) -> None:
    sign_in(page, demo_urls, "alice@example.com")
    expect(page.locator("#hello")).to_have_text("Hello, Alice Liddell")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{demo_urls.spa}/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()

    sign_in(page, demo_urls, "erin@example.com", connection="windowslive")
    expect(page.locator("#hello")).to_have_text("Hello, Erin Windows")
    expect(page.locator("#refusal-demo")).to_be_visible()
    shots.take(page, "erin-holds-alices-id-token")
    page.get_by_role("button", name="Link GitHub with Alice Liddell's ID token").click()
    page.wait_for_url(f"{demo_urls.spa}/")

    notice = page.locator("#notice")
    expect(notice).to_have_attribute("data-kind", "bad")
    expect(notice).to_have_class("note bad")
    expect(notice).to_contain_text("Link refused: the ID token is another user's")
    expect(notice).to_contain_text("What to do next:")
    expect(notice).to_contain_text("sub_mismatch")
    # Still Erin, with nothing linked.
    expect(page.locator("#hello")).to_have_text("Hello, Erin Windows")
    expect(page.locator("#identities tbody tr")).to_have_count(1)
    shots.take(page, "refused-link")
