"""What a browser SDK (auth0-spa-js) needs from the tenant: a public client, a custom API,
CORS on `/oauth/token`, rotating refresh tokens, and `response_mode=web_message`.

The SDK itself runs against the tenant in Chromium in `tests/demo/test_demo_spa_browser.py`;
these tests pin each behaviour through the routes, where a failure names it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from linker.devtenant import SeedError, default_seed, load_seed
from tests.devtenant.conftest import Driver, MakeDriver

SPA = "http://localhost:8703"
API = "https://api.linker-demo.example"


@pytest.fixture
async def spa(make_driver: MakeDriver) -> AsyncIterator[Driver]:
    seed = default_seed(
        app_callback="http://app.test/callback",
        linker_callback="http://linker.test/link/callback",
        spa_origin=SPA,
    )
    async with make_driver(seed=seed) as driver:
        yield driver


def spa_params(**params: str) -> dict[str, str]:
    return {"client_id": "demo-spa", "redirect_uri": SPA + "/", **params}


async def spa_code(spa: Driver, **params: str) -> str:
    url = await spa.sign_in("google-oauth2|alice", **spa_params(**params))
    assert url.startswith(SPA + "/?code="), url
    return str(spa.query_of(url)["code"])


async def redeem(spa: Driver, code: str, **extra: str) -> Any:
    form = {
        "grant_type": "authorization_code",
        "client_id": "demo-spa",
        "code": code,
        "code_verifier": spa.verifier,
        "redirect_uri": SPA + "/",
        **extra,
    }
    return await spa.http.post("/oauth/token", data=form, headers={"origin": SPA})


async def test_a_public_client_redeems_its_code_with_pkce_alone(spa: Driver) -> None:
    response = await redeem(spa, await spa_code(spa))
    assert response.status_code == 200, response.text
    claims = await spa.verify(response.json()["id_token"])
    assert (claims["sub"], claims["aud"]) == ("google-oauth2|alice", "demo-spa")


async def test_a_public_client_without_pkce_gets_no_tokens(spa: Driver) -> None:
    params = {**spa.authorize_params(**spa_params()), "code_challenge": ""}
    del params["code_challenge"], params["code_challenge_method"]
    response = await spa.follow(await spa.http.get("/authorize", params=params))
    url = (await spa.pick(response, "google-oauth2|alice")).headers["location"]
    response = await redeem(spa, spa.query_of(url)["code"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_a_public_client_cannot_use_a_secret_or_client_credentials(spa: Driver) -> None:
    response = await redeem(spa, await spa_code(spa), client_secret="guess")
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    response = await spa.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "demo-spa", "audience": API},
    )
    assert (response.status_code, response.json()["error"]) == (403, "unauthorized_client")


async def test_an_audience_makes_the_access_token_a_jwt_for_that_api(spa: Driver) -> None:
    response = await redeem(spa, await spa_code(spa, audience=API))
    claims = await spa.verify(response.json()["access_token"])
    assert claims["aud"] == [API, spa.BASE + "/userinfo"]
    assert (claims["sub"], claims["azp"]) == ("google-oauth2|alice", "demo-spa")


async def test_an_unknown_audience_is_refused_at_authorize(spa: Driver) -> None:
    params = spa.authorize_params(**spa_params(audience="https://nope.example"))
    response = await spa.http.get("/authorize", params=params)
    query = spa.query_of(response.headers["location"])
    assert (query["error"], query["error_description"]) == (
        "access_denied",
        "Service not found: https://nope.example",
    )


async def test_cors_preflight_and_answer_name_only_allowed_origins(spa: Driver) -> None:
    preflight = {
        "origin": SPA,
        "access-control-request-method": "POST",
        "access-control-request-headers": "auth0-client,content-type",
    }
    response = await spa.http.options("/oauth/token", headers=preflight)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SPA
    assert "auth0-client" in response.headers["access-control-allow-headers"].lower()
    evil = await spa.http.options("/oauth/token", headers={**preflight, "origin": "http://evil"})
    assert "access-control-allow-origin" not in evil.headers

    answer = await redeem(spa, await spa_code(spa))
    assert answer.headers["access-control-allow-origin"] == SPA
    # Another client's code, posted from the SPA's origin: that client does not allow it.
    url = await spa.sign_in("google-oauth2|alice")
    other = await spa.http.post(
        "/oauth/token",
        headers={"origin": SPA},
        data={
            "grant_type": "authorization_code",
            "code": spa.query_of(url)["code"],
            "redirect_uri": spa.APP_CB,
            "code_verifier": spa.verifier,
            "client_id": "demo-app",
            "client_secret": spa.SECRETS["demo-app"],
        },
    )
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers


async def test_refresh_tokens_rotate_keep_the_audience_and_a_reuse_revokes_them(
    spa: Driver,
) -> None:
    first = await redeem(spa, await spa_code(spa, audience=API, scope="openid offline_access"))
    rt1 = first.json()["refresh_token"]

    async def refresh(token: str) -> Any:
        return await spa.http.post(
            "/oauth/token",
            headers={"origin": SPA},
            data={"grant_type": "refresh_token", "client_id": "demo-spa", "refresh_token": token},
        )

    second = await refresh(rt1)
    assert second.status_code == 200, second.text
    rt2 = second.json()["refresh_token"]
    assert rt2 != rt1
    claims = await spa.verify(second.json()["access_token"])
    assert API in claims["aud"]
    assert second.headers["access-control-allow-origin"] == SPA
    # rt1 again: someone else holds the family; rt2 dies with it.
    assert (await refresh(rt1)).status_code == 403
    assert (await refresh(rt2)).status_code == 403


async def test_web_message_posts_the_code_to_the_parent_window(spa: Driver) -> None:
    await spa_code(spa)  # an SSO session for prompt=none
    params = spa.authorize_params(**spa_params(prompt="none", response_mode="web_message"))
    response = await spa.http.get("/authorize", params=params)
    assert response.status_code == 200
    message = _posted(response.text)
    assert message["type"] == "authorization_response"
    assert message["response"]["state"] == params["state"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", message["response"]["code"])
    assert f"postMessage(message,{json.dumps(SPA)})" in response.text


async def test_web_message_without_a_session_posts_login_required(spa: Driver) -> None:
    params = spa.authorize_params(**spa_params(prompt="none", response_mode="web_message"))
    response = await spa.http.get("/authorize", params=params)
    assert _posted(response.text)["response"]["error"] == "login_required"


async def test_web_message_only_to_an_allowed_web_origin(spa: Driver) -> None:
    params = spa.authorize_params(prompt="none", response_mode="web_message")  # demo-app
    response = await spa.http.get("/authorize", params=params)
    assert response.status_code == 400
    assert "Allowed Web Origins" in response.text


def _posted(page: str) -> dict[str, Any]:
    found = re.search(r"var message=(\{.*?\});var target", page)
    assert found, page
    message: dict[str, Any] = json.loads(found.group(1))
    return message


async def test_web_message_in_a_popup_posts_after_the_login_page(spa: Driver) -> None:
    params = spa.authorize_params(**spa_params(response_mode="web_message"))
    page = await spa.follow(await spa.http.get("/authorize", params=params))
    response = await spa.pick(page, "google-oauth2|alice")
    assert response.status_code == 200
    message = _posted(response.text)
    assert message["response"]["state"] == params["state"]
    assert "code" in message["response"]
    # The login's session cookie survives the page that replaced the redirect.
    assert "auth0=" in response.headers["set-cookie"]


def test_the_seed_checks_the_browser_sdk_fields() -> None:
    base: dict[str, Any] = {"connections": [], "users": []}
    public = {
        "client_id": "spa",
        "name": "SPA",
        "callbacks": [],
        "token_endpoint_auth_method": "none",
    }
    seed = load_seed({**base, "clients": [public], "apis": [{"identifier": "a", "name": "A"}]})
    assert seed.clients[0].is_public and seed.api("a") is not None
    with pytest.raises(SeedError, match=r"clients\[0\].token_endpoint_auth_method"):
        load_seed({**base, "clients": [{**public, "token_endpoint_auth_method": "private_key"}]})
    with pytest.raises(SeedError, match="duplicate identifier"):
        load_seed({**base, "clients": [], "apis": [{"identifier": "a", "name": "A"}] * 2})


async def test_the_web_message_page_cannot_be_broken_out_of(spa: Driver) -> None:
    params = spa.authorize_params(
        **spa_params(prompt="none", response_mode="web_message", state="</script><b>x</b>&")
    )
    response = await spa.http.get("/authorize", params=params)
    assert "</script><b>" not in response.text
    assert _posted(response.text)["response"]["state"] == "</script><b>x</b>&"


async def test_a_rotating_refresh_token_used_twice_at_once_is_a_reuse(spa: Driver) -> None:
    """Two requests with one token while the first runs the Action: the token is spent by
    the first, so the second is a reuse: at most one succeeds, and no two successors live.
    (It was spent only after the Action: both got 200 and two live successors.)"""
    first = await redeem(spa, await spa_code(spa, audience=API, scope="openid offline_access"))
    token = first.json()["refresh_token"]

    async def refresh() -> Any:
        return await spa.http.post(
            "/oauth/token",
            headers={"origin": SPA},
            data={"grant_type": "refresh_token", "client_id": "demo-spa", "refresh_token": token},
        )

    answers = await asyncio.gather(refresh(), refresh())
    assert sorted(a.status_code for a in answers) == [200, 403]
    (successor,) = [a.json()["refresh_token"] for a in answers if a.status_code == 200]
    assert (await refresh()).status_code == 403  # the family was revoked by the reuse
    assert successor not in spa.state.refresh_tokens
