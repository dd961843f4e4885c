"""The sample app, in-process, against a fake tenant: sign-in, link, unlink, result, agent."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from joserfc import jwt

from linker.testing import query_of
from tests.demo.demo_fakes import ALICE, KEY, TENANT_URL, Demo
from tests.support.fake_tenant import status

CALENDAR = "https://www.googleapis.com/auth/calendar.readonly"
GITHUB_1001 = {"connection": "github", "provider": "github", "user_id": "1001"}
RESULT_CLAIM = "https://linker/link_result"


# -- signing in ------------------------------------------------------------------------------


async def test_landing_page_offers_sign_in(demo: Demo) -> None:
    page = await demo.browser.get("/")
    assert page.status_code == 200
    assert '<a class="button" href="/login">Sign in</a>' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_sign_in_redirects_to_the_tenant_with_pkce_and_nonce(demo: Demo) -> None:
    response = await demo.browser.get("/login")

    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{TENANT_URL}/authorize?")
    params = query_of(location)
    assert params["client_id"] == "demo-app"
    assert params["response_type"] == "code"
    assert params["redirect_uri"] == "http://localhost:8702/callback"
    assert params["scope"] == "openid profile email offline_access"
    assert params["code_challenge_method"] == "S256"
    assert len(params["state"]) >= 43 and len(params["nonce"]) >= 43
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("demo_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie


async def test_signed_in_profile_lists_identities_and_buttons(demo: Demo) -> None:
    demo.tenant.users[ALICE]["identities"].append({**GITHUB_1001, "user_id": 1001})
    await demo.sign_in()

    page = await demo.browser.get("/")

    assert "Hello, Alice Liddell" in page.text
    assert "alice@example.com" in page.text
    assert "<td>google-oauth2</td><td><code>alice</code></td>" in page.text
    assert "<td>github</td><td><code>1001</code></td>" in page.text
    for label in ("Link GitHub", "Link Google", "Link Microsoft", "Call the agent", "Sign out"):
        assert f">{label}</button>" in page.text
    # One Unlink: the primary identity cannot be unlinked.
    assert page.text.count(">Unlink</button>") == 1
    assert 'name="identity" value="github|1001"' in page.text
    users_call = demo.tenant.requests_to("/api/v2/users/google-oauth2|alice")[-1]
    assert users_call.url.raw_path == b"/api/v2/users/google-oauth2%7Calice"
    assert users_call.headers["authorization"] == "Bearer mgmt-token"


async def test_a_management_api_failure_is_shown_not_raised(demo: Demo) -> None:
    await demo.sign_in()
    demo.tenant.fail("GET user", status(500))

    page = await demo.browser.get("/")

    assert page.status_code == 200
    assert "Could not list your identities: The Management API answered HTTP 500" in page.text


async def test_callback_with_a_state_this_browser_did_not_start_is_refused(demo: Demo) -> None:
    login = await demo.browser.get("/login")
    code = demo.tenant.login(login.headers["location"], sub=ALICE, code="c1")

    response = await demo.browser.get("/callback", params={"code": code, "state": "forged"})

    assert response.status_code == 400
    assert "state mismatch" in response.text
    assert demo.tenant.requests_to("/oauth/token") == []


async def test_callback_state_is_one_use(demo: Demo) -> None:
    login = await demo.browser.get("/login")
    state = query_of(login.headers["location"])["state"]
    code = demo.tenant.login(login.headers["location"], sub=ALICE, code="c1")
    first = await demo.browser.get("/callback", params={"code": code, "state": state})
    assert first.status_code == 303

    replay = await demo.browser.get("/callback", params={"code": code, "state": state})

    assert replay.status_code == 400
    assert "state mismatch" in replay.text


async def test_callback_without_the_session_cookie_is_refused(demo: Demo) -> None:
    login = await demo.browser.get("/login")
    state = query_of(login.headers["location"])["state"]
    demo.browser.cookies.clear()

    response = await demo.browser.get("/callback", params={"code": "c", "state": state})

    assert response.status_code == 400


async def test_callback_after_the_pending_sign_in_expired_is_refused(demo: Demo) -> None:
    login = await demo.browser.get("/login")
    state = query_of(login.headers["location"])["state"]
    demo.clock.now += 601

    response = await demo.browser.get("/callback", params={"code": "c", "state": state})

    assert response.status_code == 400


async def test_an_id_token_with_another_nonce_does_not_sign_in(demo: Demo) -> None:
    login = await demo.browser.get("/login")
    location = login.headers["location"]
    code = demo.tenant.login(location, sub=ALICE, code="c1")
    demo.tenant.codes[code].tokens["id_token"] = demo.tenant.id_token(nonce="another")

    state = query_of(location)["state"]
    back = await demo.browser.get("/callback", params={"code": code, "state": state})
    page = await demo.browser.get(back.headers["location"])

    assert "Sign in</a>" in page.text
    assert "The tenant&#x27;s ID token was refused: &#x27;nonce&#x27; does not match" in page.text


async def test_sign_in_rotates_the_session_id(demo: Demo) -> None:
    await demo.browser.get("/login")
    before = demo.browser.cookies["demo_session"]
    await demo.sign_in()
    assert demo.browser.cookies["demo_session"] != before


# -- link and unlink -------------------------------------------------------------------------


async def test_link_button_sends_the_browser_to_a_link_request(demo: Demo) -> None:
    await demo.sign_in()
    [session_id_token] = demo.tenant.issued_id_tokens

    response = await demo.press("/link", connection="github")

    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(f"{TENANT_URL}/authorize?")
    params = query_of(location)
    assert params["client_id"] == "demo-app"
    assert params["redirect_uri"] == "http://localhost:8702/callback"
    assert params["scope"] == "openid profile email offline_access link_account"
    assert params["requested_connection"] == "github"
    assert "requested_connection_scope" not in params
    assert params["id_token_hint"] == session_id_token
    assert params["code_challenge_method"] == "S256"


async def test_link_without_the_csrf_token_is_forbidden(demo: Demo) -> None:
    await demo.sign_in()
    for data in ({"connection": "github"}, {"connection": "github", "csrf": "guess"}):
        response = await demo.browser.post("/link", data=data)
        assert response.status_code == 403


async def test_link_refuses_a_bad_connection_and_a_non_form_body(demo: Demo) -> None:
    await demo.sign_in()
    assert (await demo.press("/link", connection="git hub&x=1")).status_code == 400
    assert (await demo.browser.post("/link", json={"connection": "github"})).status_code == 415


async def test_link_result_claim_is_shown_after_the_callback(demo: Demo) -> None:
    await demo.sign_in()
    link = await demo.press("/link", connection="github")
    demo.tenant.users[ALICE]["identities"].append(GITHUB_1001)

    page = await demo.come_back(
        link.headers["location"],
        "c2",
        **{RESULT_CLAIM: {"status": "linked", "identity": GITHUB_1001}},
    )

    assert '<div class="note ok" role="status" data-kind="ok">' in page.text
    assert "Linked: github (github|1001)" in page.text
    assert "<td>github</td>" in page.text


async def test_a_result_is_shown_once_not_after_a_reload_or_the_next_action(
    demo: Demo,
) -> None:
    await demo.sign_in()
    link = await demo.press("/link", connection="github")
    demo.tenant.users[ALICE]["identities"].append(GITHUB_1001)
    page = await demo.come_back(
        link.headers["location"],
        "c2",
        **{RESULT_CLAIM: {"status": "linked", "identity": GITHUB_1001}},
    )
    assert "Linked: github" in page.text

    reloaded = await demo.browser.get("/")
    assert 'role="status"' not in reloaded.text
    assert "<td>github</td>" in reloaded.text  # the state itself stays
    await demo.press("/agent")
    after_agent = await demo.browser.get("/")
    assert "Linked: github" not in after_agent.text
    assert ">Connect Google Calendar</button>" in after_agent.text
    assert ">Connect Google Calendar</button>" not in (await demo.browser.get("/")).text


async def test_a_missing_result_claim_is_reported(demo: Demo) -> None:
    await demo.sign_in()
    link = await demo.press("/link", connection="github")

    page = await demo.come_back(link.headers["location"], "c2")

    assert "The tenant returned no link result" in page.text
    assert 'class="note bad"' in page.text


async def refused_link(demo: Demo, description: str) -> httpx.Response:
    """Sign in, ask to link, and come back with `access_denied` and `description`."""
    await demo.sign_in()
    link = await demo.press("/link", connection="github")
    state = query_of(link.headers["location"])["state"]
    params = {"error": "access_denied", "error_description": description, "state": state}
    await demo.browser.get("/callback", params=params)
    return await demo.browser.get("/")


async def test_access_denied_shows_the_error_description(demo: Demo) -> None:
    page = await refused_link(
        demo, "secondary_email_not_verified: <Verify> the GitHub email first."
    )

    assert 'class="note bad"' in page.text
    assert "Link refused: that account&#x27;s email is not verified" in page.text
    assert "(code secondary_email_not_verified)" in page.text


async def test_an_unknown_refusal_shows_its_description_escaped(demo: Demo) -> None:
    page = await refused_link(demo, "brand_new_code: <b>Something</b> new.")

    assert "Link refused" in page.text
    assert "&lt;b&gt;Something&lt;/b&gt; new." in page.text
    assert "<b>What to do next:</b>" in page.text


async def test_a_stale_id_token_is_refreshed_before_it_becomes_a_hint(demo: Demo) -> None:
    await demo.sign_in()
    demo.clock.now += 500  # older than the 480 s the app allows before refreshing
    demo.tenant.refresh_claims = {"name": "Alice (refreshed)"}

    response = await demo.press("/link", connection="github")

    [refresh] = [
        r
        for r in demo.tenant.requests_to("/oauth/token")
        if b"grant_type=refresh_token" in r.content
    ]
    assert b"refresh_token=rt-login-code" in refresh.content
    hint = query_of(response.headers["location"])["id_token_hint"]
    assert hint == demo.tenant.issued_id_tokens[-1]
    claims = jwt.decode(hint, KEY).claims
    assert claims["iat"] == int(demo.clock.now)
    assert claims["name"] == "Alice (refreshed)"


async def test_a_stale_id_token_without_refresh_token_signs_out(demo: Demo) -> None:
    login = await demo.browser.get("/login")
    location = login.headers["location"]
    code = demo.tenant.login(location, sub=ALICE, code="c1")
    del demo.tenant.codes[code].tokens["refresh_token"]
    await demo.browser.get("/callback", params={"code": code, "state": query_of(location)["state"]})
    demo.clock.now += 500

    response = await demo.press("/link", connection="github")

    assert response.headers["location"] == "/"
    page = await demo.browser.get("/")
    assert "cannot be refreshed. Sign in again." in page.text
    assert "Sign in</a>" in page.text


async def test_unlink_asks_for_unlink_account_of_that_identity(demo: Demo) -> None:
    demo.tenant.users[ALICE]["identities"].append(GITHUB_1001)
    await demo.sign_in()

    response = await demo.press("/unlink", connection="github", identity="github|1001")

    params = query_of(response.headers["location"])
    assert params["scope"] == "openid profile email offline_access unlink_account"
    assert params["requested_connection"] == "github"
    assert params["requested_identity"] == "github|1001"


# -- the agent -------------------------------------------------------------------------------


async def test_agent_without_a_tokenset_offers_to_connect_the_calendar(demo: Demo) -> None:
    await demo.sign_in()

    await demo.press("/agent")
    page = await demo.browser.get("/")

    assert ">Connect Google Calendar</button>" in page.text
    assert 'action="/connect"' in page.text
    assert f'name="connection_scope" value="{CALENDAR}"' in page.text
    [exchange] = [r for r in demo.tenant.requests_to("/oauth/token") if b"federated" in r.content]
    assert b"subject_token=rt-login-code" in exchange.content
    # Token Vault has no scope parameter: the answer says what was granted.
    assert b"scope=" not in exchange.content


async def test_connect_an_unlinked_connection_links_it_with_the_scope(demo: Demo) -> None:
    demo.tenant.users[ALICE]["identities"] = [GITHUB_1001]  # Google is not among her identities
    await demo.sign_in()

    connect = await demo.press("/connect", connection="google-oauth2", connection_scope=CALENDAR)

    params = query_of(connect.headers["location"])
    assert params["scope"] == "openid profile email offline_access link_account"
    assert params["requested_connection"] == "google-oauth2"
    assert params["requested_connection_scope"] == CALENDAR
    demo.tenant.vault_response = httpx.Response(
        200, json={"access_token": "ya29.secret", "expires_in": 3600, "scope": CALENDAR}
    )
    page = await demo.come_back(
        connect.headers["location"], "c2", **{RESULT_CLAIM: {"status": "linked"}}
    )
    assert "Google Calendar connected" in page.text
    assert "linker linked your Google account with that scope." in page.text
    assert f"got a Google token (scopes {CALENDAR})" in page.text


async def test_connect_a_linked_connection_goes_through_linker_too(demo: Demo) -> None:
    # Already linked: linker has the user sign in there again, so the scope is granted.
    await demo.sign_in()

    connect = await demo.press("/connect", connection="google-oauth2", connection_scope=CALENDAR)

    params = query_of(connect.headers["location"])
    assert params["requested_connection"] == "google-oauth2"
    assert params["requested_connection_scope"] == CALENDAR
    assert "link_account" in params["scope"].split()
    page = await demo.come_back(
        connect.headers["location"], "c2", **{RESULT_CLAIM: {"status": "already_linked"}}
    )
    # Token Vault (the fake) still has nothing: the page says so, as a refusal.
    assert "Google Calendar is still not connected" in page.text
    assert "linker had you sign in at Google again to grant it" in page.text
    assert 'class="note bad"' in page.text


async def test_connect_refuses_a_sign_in_as_another_user(demo: Demo) -> None:
    await demo.sign_in()
    connect = await demo.press("/connect", connection="google-oauth2", connection_scope=CALENDAR)

    page = await demo.come_back(connect.headers["location"], "c2", sub="google-oauth2|frank")

    assert "Refused: the tenant answered for another user." in page.text
    assert "Hello, Alice Liddell" in page.text


async def test_agent_with_a_tokenset_reports_the_scopes_only(demo: Demo) -> None:
    demo.tenant.vault_response = httpx.Response(
        200, json={"access_token": "ya29.secret", "expires_in": 3600, "scope": CALENDAR}
    )
    await demo.sign_in()

    await demo.press("/agent")
    page = await demo.browser.get("/")

    assert f"The agent got a Google token (scopes {CALENDAR})." in page.text
    assert "ya29.secret" not in page.text


async def test_agent_failure_is_shown(demo: Demo) -> None:
    demo.tenant.vault_response = httpx.Response(
        403, json={"error": "unauthorized_client", "error_description": "Token Vault is off"}
    )
    await demo.sign_in()

    await demo.press("/agent")
    page = await demo.browser.get("/")

    assert "The agent failed: unauthorized_client: Token Vault is off" in page.text


async def test_agent_json_api_answers_link_required_with_a_usable_link(demo: Demo) -> None:
    await demo.sign_in()

    response = await demo.browser.get("/agent/calendar")

    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "link_required"
    assert body["connection"] == "google-oauth2"
    assert body["scopes"] == [CALENDAR]
    assert response.headers["www-authenticate"] == (
        f'Bearer error="link_required", connection="google-oauth2", scope="{CALENDAR}"'
    )
    link_url = body["link_url"]
    assert urlsplit(link_url).path == "/authorize"
    assert query_of(link_url)["requested_connection_scope"] == CALENDAR
    # The app kept this attempt's state, nonce and verifier: its callback completes.
    page = await demo.come_back(link_url, "c3", **{RESULT_CLAIM: {"status": "already_linked"}})
    assert "Google Calendar is still not connected" in page.text


async def test_agent_json_api_links_a_connection_the_user_lacks(demo: Demo) -> None:
    demo.tenant.users[ALICE]["identities"] = [GITHUB_1001]
    await demo.sign_in()

    response = await demo.browser.get("/agent/calendar")

    assert response.status_code == 401
    params = query_of(response.json()["link_url"])
    assert params["requested_connection"] == "google-oauth2"
    assert params["requested_connection_scope"] == CALENDAR
    assert params["id_token_hint"] == demo.tenant.issued_id_tokens[-1]


async def test_agent_json_api_with_a_token_returns_its_scope_not_the_token(demo: Demo) -> None:
    demo.tenant.vault_response = httpx.Response(
        200, json={"access_token": "ya29.secret", "expires_in": 3600, "scope": CALENDAR}
    )
    await demo.sign_in()

    response = await demo.browser.get("/agent/calendar")

    assert response.status_code == 200
    assert response.json() == {"connection": "google-oauth2", "scope": CALENDAR, "expires_in": 3600}


async def test_agent_json_api_without_a_session_asks_to_sign_in(demo: Demo) -> None:
    response = await demo.browser.get("/agent/calendar")
    assert response.status_code == 401
    assert response.json() == {"error": "login_required"}


# -- pages and sessions ----------------------------------------------------------------------


async def test_what_the_tenant_supplies_is_escaped(demo: Demo) -> None:
    await demo.sign_in(name='<script>alert("x")</script>')
    page = await demo.browser.get("/")
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.text


async def test_sign_out_ends_the_session(demo: Demo) -> None:
    await demo.sign_in()
    old_cookie = demo.browser.cookies["demo_session"]

    response = await demo.press("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"{TENANT_URL}/v2/logout?client_id=demo-app&returnTo=http%3A%2F%2Flocalhost%3A8702%2F"
    )

    page = await demo.browser.get("/")
    assert "signed out" in page.text
    demo.browser.cookies.set("demo_session", old_cookie)
    assert "Sign in</a>" in (await demo.browser.get("/")).text


async def test_the_pages_name_an_icon_that_is_there_and_may_load(demo: Demo) -> None:
    page = await demo.browser.get("/")
    assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in page.text
    assert "img-src 'self'" in page.headers["content-security-policy"]
    icon = await demo.browser.get("/favicon.ico")
    assert (icon.status_code, icon.headers["content-type"]) == (200, "image/svg+xml")


# -- Connected Accounts: the My Account API, with a token from the refresh token (MRRT) -----


async def test_connect_account_asks_for_a_step_up_when_the_2fa_rule_says_so(demo: Demo) -> None:
    await demo.sign_in()
    refusal = {"error": "mfa_required", "error_description": "Multifactor authentication required"}
    demo.tenant.faults["POST /oauth/token"] = [lambda request: httpx.Response(403, json=refusal)]

    await demo.press("/connect-account", connection="slack")
    page = await demo.browser.get("/")

    [mrrt] = demo.tenant.requests_to("/oauth/token")[-1:]
    assert b"grant_type=refresh_token" in mrrt.content and b"%2Fme%2F" in mrrt.content
    assert "Sign in again to connect an account" in page.text
    assert "second factor" in page.text
    assert 'href="/login?step_up=second_factor"' in page.text
    again = await demo.browser.get("/login", params={"step_up": "second_factor"})
    query = query_of(again.headers["location"])
    assert query["prompt"] == "login"
    assert query["acr_values"] == "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
    plain = await demo.browser.get("/login", params={"step_up": "anything"})
    assert "prompt" not in query_of(plain.headers["location"])
