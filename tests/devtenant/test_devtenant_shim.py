"""The shim from deploy/action/, run by the dev tenant in Node: suspend, resume, deny."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.devtenant.conftest import Driver, MakeConfig, MakeDriver

LINKED = {"status": "linked", "identity": {"provider": "github", "user_id": "1001"}}


async def start_link(driver: Driver, **params: str) -> str:
    """Alice asks to link GitHub; returns the shim's redirect to linker."""
    defaults = {
        "scope": "openid profile email link_account",
        "requested_connection": "github",
        "id_token_hint": "a-hint",
    }
    url = await driver.sign_in("google-oauth2|alice", **{**defaults, **params})
    assert url.startswith(driver.LINKER_URL + "/link/start?"), url
    return str(url)


async def test_link_scope_sends_the_user_to_linker_with_a_start_token(driver: Driver) -> None:
    url = await start_link(driver, requested_connection_scope="repo read:user")
    query = driver.query_of(url)
    assert set(query) == {"session_token", "state"}
    claims = driver.read_hs256(query["session_token"])
    now = int(driver.clock())
    assert claims == {
        "sub": "google-oauth2|alice",
        "iss": driver.DOMAIN,
        "iat": now,
        "exp": now + 300,
        "ip": "203.0.113.7",
        "linker_v": 2,
        "jti": claims["jti"],
        "action": "link",
        "client_id": "demo-app",
        "requested_connection": "github",
        "requested_connection_scope": "repo read:user",
        "id_token_hint": "a-hint",
        "user": {
            "email": "alice@example.com",
            "email_verified": True,
            "identities": [
                {
                    "provider": "google-oauth2",
                    "user_id": "alice",
                    "connection": "google-oauth2",
                    "isSocial": True,
                }
            ],
        },
        "authentication_methods": ["federated"],
        "enrolled_factors": [],
        "session_id": claims["session_id"],
        "transaction_id": claims["transaction_id"],
    }
    assert claims["session_id"] and claims["transaction_id"]
    assert len(claims["jti"]) == 36  # crypto.randomUUID(): each start token is new
    again = driver.read_hs256(driver.query_of(await start_link(driver))["session_token"])
    assert again["jti"] != claims["jti"]
    # The start token carries no state: the tenant's own state rides on the URL.
    assert "state" not in claims


async def test_unlink_and_both_scopes_and_the_plural_spelling(driver: Driver) -> None:
    url = await start_link(
        driver, scope="openid unlink_account", requested_connection_scopes="repo"
    )
    claims = driver.read_hs256(driver.query_of(url)["session_token"])
    assert (claims["action"], claims["requested_connection_scope"]) == ("unlink", "repo")
    url = await start_link(driver, scope="openid link_account unlink_account", prompt="login")
    assert driver.read_hs256(driver.query_of(url)["session_token"])["action"] == "invalid"


async def test_mfa_and_factors_reach_the_start_token(driver: Driver) -> None:
    url = await driver.sign_in(
        "auth0|dave",
        {"mfa": "1"},  # the login form's fields
        scope="openid link_account",
        requested_connection="github",
    )
    claims = driver.read_hs256(driver.query_of(url)["session_token"])
    assert claims["authentication_methods"] == ["pwd", "mfa"]
    assert claims["enrolled_factors"] == ["otp"]


async def test_no_redirect_without_a_link_scope_or_for_linkers_own_login(driver: Driver) -> None:
    url = await driver.sign_in("google-oauth2|alice")
    assert url.startswith(driver.APP_CB + "?code=")
    driver_params = {
        "client_id": "linker",
        "redirect_uri": driver.LINKER_URL + "/link/callback",
        "scope": "openid link_account",
        "connection": "github",
        "prompt": "login",
    }
    url = await driver.sign_in("github|1001", **driver_params)
    assert url.startswith(driver.LINKER_URL + "/link/callback?code=")


async def test_no_redirect_for_prompt_none(driver: Driver) -> None:
    await driver.sign_in("google-oauth2|alice")  # leaves an SSO session
    url = await driver.sign_in("-", scope="openid link_account", prompt="none")
    assert url.startswith(driver.APP_CB + "?code=")


async def test_no_redirect_in_a_refresh_token_grant(driver: Driver) -> None:
    url = await start_link(driver, scope="openid email offline_access link_account")
    back = await driver.resume(url, driver.result_token(url, LINKED))
    tokens = (await driver.exchange(back)).json()
    driver.clock.advance(30)
    # The grant still holds link_account: only the shim's protocol check keeps it quiet.
    response = await driver.http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "demo-app",
            "client_secret": driver.SECRETS["demo-app"],
        },
    )
    assert response.status_code == 200, response.text
    first = await driver.verify(tokens["id_token"])
    fresh = await driver.verify(response.json()["id_token"])
    assert fresh["iat"] == first["iat"] + 30
    assert fresh["auth_time"] == first["auth_time"]
    assert fresh["sub"] == "google-oauth2|alice"


async def test_resume_with_a_linked_result_puts_the_claim_in_the_id_token(driver: Driver) -> None:
    url = await start_link(driver)
    back = await driver.resume(url, driver.result_token(url, LINKED))
    assert back.startswith(driver.APP_CB + "?code=")
    response = await driver.exchange(back)
    claims = await driver.verify(response.json()["id_token"])
    assert claims["sub"] == "google-oauth2|alice"
    assert claims["https://linker/link_result"] == LINKED


@pytest.mark.parametrize(
    ("scope", "status"), [("unlink_account", "unlinked"), ("link_account", "already_linked")]
)
async def test_other_success_statuses_continue_too(driver: Driver, scope: str, status: str) -> None:
    url = await start_link(driver, scope=f"openid {scope}")
    back = await driver.resume(url, driver.result_token(url, {"status": status}), method="GET")
    claims = await driver.verify((await driver.exchange(back)).json()["id_token"])
    assert claims["https://linker/link_result"] == {"status": status, "identity": None}


@pytest.mark.parametrize(
    ("scope", "status"),
    [
        ("link_account", "unlinked"),
        ("unlink_account", "linked"),
        ("unlink_account", "already_linked"),
    ],
)
async def test_a_success_for_another_question_is_denied(
    driver: Driver, scope: str, status: str
) -> None:
    url = await start_link(driver, scope=f"openid {scope}", state="outer")
    back = await driver.resume(url, driver.result_token(url, {"status": status}))
    assert driver.query_of(back)["error_description"] == (
        "invalid_session_token: the result does not answer this login's request"
    )


async def test_a_denied_result_ends_in_access_denied(driver: Driver) -> None:
    url = await start_link(driver, state="outer-state")
    result = {"status": "denied", "error": "same_account", "error_description": "It is you."}
    back = await driver.resume(url, driver.result_token(url, result))
    assert driver.query_of(back) == {
        "error": "access_denied",
        "error_description": "same_account: It is you.",
        "state": "outer-state",
    }


OTHER_SECRET = "another-secret-of-at-least-32-bytes!!!!"


def resigned(driver: Driver, token: str, **kwargs: Any) -> str:
    return str(driver.hs256(driver.read_hs256(token), **kwargs))


def alg_none(driver: Driver, token: str) -> str:
    _, payload, _ = token.split(".")
    return "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + payload + ".c2ln"


TAMPERED: dict[str, tuple[Callable[[Driver, str, int], str], str]] = {
    "signed with another secret": (
        lambda d, url, now: resigned(d, d.result_token(url, LINKED), secret=OTHER_SECRET),
        "invalid token signature",
    ),
    "expired": (
        lambda d, url, now: d.result_token(url, LINKED, iat=now - 200, exp=now - 1),
        "the token has expired",
    ),
    "no state claim": (
        lambda d, url, now: d.result_token(url, LINKED, state=None),
        "the token has no state claim",
    ),
    "no sub claim": (
        lambda d, url, now: d.result_token(url, LINKED, sub=None),
        "the token has no sub claim",
    ),
    "no iat claim": (
        lambda d, url, now: d.result_token(url, LINKED, iat=None),
        "the token has no iat claim",
    ),
    "another state": (
        lambda d, url, now: d.result_token(url, LINKED, state=d.query_of(url)["state"] + "x"),
        "the token's state does not match the transaction",
    ),
    "exp under 60 s after iat": (
        lambda d, url, now: d.result_token(url, LINKED, exp=now + 59),
        "the token's exp must be at least 60 seconds after its iat",
    ),
    "another user": (
        lambda d, url, now: d.result_token(url, LINKED, sub="github|1001"),
        "the token was issued for another user",
    ),
    "HS512": (
        lambda d, url, now: resigned(d, d.result_token(url, LINKED), alg="HS512"),
        "unsupported token algorithm: HS512",
    ),
    "alg none": (
        lambda d, url, now: alg_none(d, d.result_token(url, LINKED)),
        "unsupported token algorithm: none",
    ),
    "not a JWT": (lambda d, url, now: "not-a-jwt", "the token is not a JWT"),
    "another issuer": (
        lambda d, url, now: d.result_token(url, LINKED, iss="https://evil.example"),
        "the token was not issued by this linker (protocol v2)",
    ),
    "protocol v1": (
        lambda d, url, now: d.result_token(url, LINKED, linker_v=1),
        "the token was not issued by this linker (protocol v2)",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
async def test_continue_refuses_a_bad_session_token(driver: Driver, case: str) -> None:
    make, reason = TAMPERED[case]
    url = await start_link(driver, state="outer")
    back = await driver.resume(url, make(driver, url, int(driver.clock())))
    assert driver.query_of(back) == {
        "error": "access_denied",
        "error_description": "invalid_session_token: " + reason,
        "state": "outer",
    }


async def test_continue_without_a_session_token_is_denied(driver: Driver) -> None:
    url = await start_link(driver, state="outer")
    response = await driver.http.post("/continue", data={"state": driver.query_of(url)["state"]})
    query = driver.query_of(response.headers["location"])
    assert query["error_description"] == (
        "invalid_session_token: the session_token parameter is missing"
    )


async def test_continue_with_an_unknown_or_spent_state_is_a_400_page(driver: Driver) -> None:
    response = await driver.http.post("/continue", data={"state": "nope", "session_token": "x"})
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]
    url = await start_link(driver)
    await driver.resume(url, driver.result_token(url, LINKED))
    state = driver.query_of(url)["state"]
    again = await driver.http.post("/continue", data={"state": state, "session_token": "x"})
    assert again.status_code == 400


async def test_result_signed_with_the_previous_secret_while_rolling(
    make_driver: MakeDriver, make_config: MakeConfig
) -> None:
    secrets = dict(make_config().action_secrets)
    rolled = {**secrets, "LINKER_ACTION_SECRET_PREVIOUS": OTHER_SECRET}
    async with make_driver(action_secrets=rolled) as driver:
        url = await start_link(driver)
        token = resigned(driver, driver.result_token(url, LINKED), secret=OTHER_SECRET)
        back = await driver.resume(url, token)
    assert back.startswith(driver.APP_CB + "?code=")
    # Without the previous secret configured, the same token is refused.
    async with make_driver() as driver:
        url = await start_link(driver)
        token = resigned(driver, driver.result_token(url, LINKED), secret=OTHER_SECRET)
        back = await driver.resume(url, token)
    assert "error=access_denied" in back and "invalid_session_token" in back


async def test_continue_from_another_browser_fails_without_running_the_action(
    driver: Driver,
) -> None:
    """Auth0 resumes a login only in the browser that holds it: another browser, even with
    the state and a valid token, gets an invalid-state page, and the login stays resumable."""
    url = await start_link(driver, state="outer")
    token = driver.result_token(url, LINKED)
    state = driver.query_of(url)["state"]
    holder = dict(driver.http.cookies)
    driver.http.cookies.clear()
    stranger = await driver.http.post("/continue", data={"state": state, "session_token": token})
    assert stranger.status_code == 400
    assert "Invalid state" in stranger.text
    # A browser without a session of this tenant is still told where to go next.
    assert "Return to the application you came from and start again there" in stranger.text
    for name, value in holder.items():
        driver.http.cookies.set(name, value)
    back = await driver.resume(url, token)
    assert back.startswith(driver.APP_CB + "?code=")


async def test_linkers_own_login_gets_the_connection_used_in_its_id_token(driver: Driver) -> None:
    """As Auth0's `api.idToken.setCustomClaim` does, for linker's client only."""
    params = {
        "client_id": "linker",
        "redirect_uri": driver.LINKER_URL + "/link/callback",
        "scope": "openid profile email",
        "connection": "github",
        "prompt": "login",
    }
    url = await driver.sign_in("github|1001", **params)
    response = await driver.exchange(
        url, client_id="linker", redirect_uri=driver.LINKER_URL + "/link/callback"
    )
    claims = await driver.verify(response.json()["id_token"])
    assert claims["https://linker/connection"] == {"name": "github", "strategy": "github"}
    app = await driver.verify((await driver.tokens("google-oauth2|alice"))["id_token"])
    assert "https://linker/connection" not in app  # the applications' tokens do not get it
