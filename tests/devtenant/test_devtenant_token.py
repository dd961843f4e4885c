"""`/oauth/token` and `/userinfo`: the code grant's refusals, client auth, refresh, discovery."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.devtenant.conftest import Driver


async def signed_in(driver: Driver, **params: str) -> str:
    url = await driver.sign_in("google-oauth2|alice", **params)
    assert url.startswith(driver.APP_CB + "?code=")
    return str(url)


def code_form(driver: Driver, url: str, **overrides: str | None) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "code": driver.query_of(url)["code"],
        "redirect_uri": driver.APP_CB,
        "code_verifier": driver.verifier,
        "client_id": "demo-app",
        "client_secret": driver.SECRETS["demo-app"],
        **overrides,
    }
    return {k: v for k, v in form.items() if v is not None}


async def test_discovery_and_jwks(driver: Driver) -> None:
    config = (await driver.http.get("/.well-known/openid-configuration")).json()
    assert config["issuer"] == driver.BASE + "/"
    assert config["authorization_endpoint"] == driver.BASE + "/authorize"
    assert config["token_endpoint"] == driver.BASE + "/oauth/token"
    assert config["userinfo_endpoint"] == driver.BASE + "/userinfo"
    assert config["jwks_uri"] == driver.BASE + "/.well-known/jwks.json"
    assert config["code_challenge_methods_supported"] == ["S256"]
    keys = (await driver.http.get("/.well-known/jwks.json")).json()["keys"]
    assert [(k["kty"], k["alg"], k["use"]) for k in keys] == [("RSA", "RS256", "sig")]
    assert keys[0]["kid"] and "d" not in keys[0]


async def test_code_flow_end_to_end(driver: Driver) -> None:
    url = await signed_in(driver, state="xyz", nonce="n-1")
    assert driver.query_of(url)["state"] == "xyz"
    response = await driver.exchange(url)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["token_type"], body["scope"], body["expires_in"]) == (
        "Bearer",
        "openid profile email",
        86400,
    )
    assert "refresh_token" not in body
    claims = await driver.verify(body["id_token"])
    now = int(driver.clock())
    assert claims["iss"] == driver.BASE + "/"
    assert (claims["sub"], claims["aud"], claims["azp"]) == (
        "google-oauth2|alice",
        "demo-app",
        "demo-app",
    )
    assert (claims["iat"], claims["auth_time"], claims["exp"]) == (now, now, now + 36000)
    assert (claims["nonce"], claims["email"], claims["email_verified"]) == (
        "n-1",
        "alice@example.com",
        True,
    )
    assert claims["name"] == "Alice Liddell" and claims["sid"]
    info = await driver.http.get(
        "/userinfo", headers={"authorization": "Bearer " + body["access_token"]}
    )
    assert info.json() == {
        "sub": "google-oauth2|alice",
        "email": "alice@example.com",
        "email_verified": True,
        "name": "Alice Liddell",
    }


async def test_userinfo_refuses_a_missing_or_management_token(driver: Driver) -> None:
    assert (await driver.http.get("/userinfo")).status_code == 401
    token = await driver.management_token()
    response = await driver.http.get("/userinfo", headers={"authorization": "Bearer " + token})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        ({"code_verifier": "x" * 43}, "Failed to verify code verifier"),
        ({"code_verifier": None}, "Failed to verify code verifier"),
        ({"code_verifier": "short"}, "Failed to verify code verifier"),
        ({"redirect_uri": "http://app.test/other"}, "redirect_uri does not match"),
        ({"redirect_uri": None}, "redirect_uri does not match"),
        ({"code": "made-up"}, "Invalid authorization code"),
    ],
)
async def test_code_exchange_refusals(
    driver: Driver, overrides: dict[str, Any], description: str
) -> None:
    url = await signed_in(driver)
    response = await driver.http.post("/oauth/token", data=code_form(driver, url, **overrides))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert description in response.json()["error_description"]


async def test_a_code_is_spent_by_its_first_use(driver: Driver) -> None:
    url = await signed_in(driver)
    assert (await driver.exchange(url)).status_code == 200
    again = await driver.exchange(url)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    # Even a failed attempt spends it.
    url = await signed_in(driver, prompt="login")
    bad = await driver.http.post(
        "/oauth/token", data=code_form(driver, url, code_verifier="y" * 43)
    )
    assert bad.status_code == 400
    assert (await driver.exchange(url)).status_code == 400


async def test_a_code_expires_after_60_seconds(driver: Driver) -> None:
    url = await signed_in(driver)
    driver.clock.advance(61)
    response = await driver.exchange(url)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "The authorization code has expired",
    }
    url = await signed_in(driver)
    driver.clock.advance(59)
    assert (await driver.exchange(url)).status_code == 200


async def test_a_code_belongs_to_its_client(driver: Driver) -> None:
    url = await signed_in(driver)
    form = code_form(driver, url, client_id="linker", client_secret=driver.SECRETS["linker"])
    response = await driver.http.post("/oauth/token", data=form)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_secret": "wrong"},
        {"client_secret": None},
        {"client_id": "nobody"},
        {"client_secret": "linker-secret-change-me-0123456789"},  # another client's secret
    ],
)
async def test_wrong_client_credentials_are_401_invalid_client(
    driver: Driver, overrides: dict[str, Any]
) -> None:
    url = await signed_in(driver)
    response = await driver.http.post("/oauth/token", data=code_form(driver, url, **overrides))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_client_secret_basic(driver: Driver) -> None:
    url = await signed_in(driver)
    form = code_form(driver, url, client_secret=None)
    ok = base64.b64encode(b"demo-app:" + driver.SECRETS["demo-app"].encode()).decode()
    bad = base64.b64encode(b"demo-app:nope").decode()
    refused = await driver.http.post(
        "/oauth/token", data=form, headers={"authorization": "Basic " + bad}
    )
    assert refused.status_code == 401
    url = await signed_in(driver)
    form = code_form(driver, url, client_secret=None)
    accepted = await driver.http.post(
        "/oauth/token", data=form, headers={"authorization": "Basic " + ok}
    )
    assert accepted.status_code == 200, accepted.text


async def test_json_token_requests_and_unknown_grants(driver: Driver) -> None:
    url = await signed_in(driver)
    assert (await driver.http.post("/oauth/token", json=code_form(driver, url))).status_code == 200
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": "demo-app",
        "client_secret": driver.SECRETS["demo-app"],
    }
    response = await driver.http.post("/oauth/token", data=form)
    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type")


async def test_offline_access_gives_a_refresh_token_bound_to_its_client(driver: Driver) -> None:
    url = await signed_in(driver, scope="openid email offline_access")
    body = (await driver.exchange(url)).json()
    form = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    other = await driver.http.post(
        "/oauth/token",
        data={**form, "client_id": "linker", "client_secret": driver.SECRETS["linker"]},
    )
    assert (other.status_code, other.json()["error"]) == (403, "invalid_grant")
    driver.clock.advance(100)
    own = await driver.http.post(
        "/oauth/token",
        data={**form, "client_id": "demo-app", "client_secret": driver.SECRETS["demo-app"]},
    )
    assert own.status_code == 200
    claims = await driver.verify(own.json()["id_token"])
    assert claims["iat"] == int(driver.clock()) and claims["auth_time"] == int(driver.clock()) - 100


async def test_a_refresh_may_ask_for_fewer_scopes_never_more(driver: Driver) -> None:
    """Auth0's refresh token grant: "If not sent, the original scopes will be used; otherwise
    you can request a reduced set of scopes"."""
    url = await signed_in(driver, scope="openid profile email offline_access")
    token = (await driver.exchange(url)).json()["refresh_token"]
    client = {"client_id": "demo-app", "client_secret": driver.SECRETS["demo-app"]}
    form = {"grant_type": "refresh_token", "refresh_token": token, **client}
    narrower = await driver.http.post("/oauth/token", data={**form, "scope": "openid email"})
    assert narrower.status_code == 200 and narrower.json()["scope"] == "openid email"
    claims = await driver.verify(narrower.json()["id_token"])
    assert "email" in claims and "name" not in claims
    wider = await driver.http.post("/oauth/token", data={**form, "scope": "openid read:admin"})
    assert wider.json()["scope"] == "openid"
    same = await driver.http.post("/oauth/token", data=form)
    assert same.json()["scope"] == "openid profile email offline_access"


async def test_client_credentials_for_the_management_api_only(driver: Driver) -> None:
    base = {
        "grant_type": "client_credentials",
        "client_id": "demo-app",
        "client_secret": driver.SECRETS["demo-app"],
    }
    ok = await driver.http.post("/oauth/token", data={**base, "audience": driver.BASE + "/api/v2/"})
    assert ok.json()["scope"] == "read:users"
    claims = await driver.verify(ok.json()["access_token"])
    assert (claims["sub"], claims["aud"], claims["gty"]) == (
        "demo-app@clients",
        driver.BASE + "/api/v2/",
        "client-credentials",
    )
    too_much = await driver.http.post(
        "/oauth/token",
        data={**base, "audience": driver.BASE + "/api/v2/", "scope": "read:users update:users"},
    )
    assert (too_much.status_code, too_much.json()["error"]) == (403, "access_denied")
    elsewhere = await driver.http.post(
        "/oauth/token", data={**base, "audience": "https://api.example/"}
    )
    assert elsewhere.status_code == 403
    missing = await driver.http.post("/oauth/token", data=base)
    assert missing.status_code == 403


async def test_rotation_keeps_old_keys_published(driver: Driver) -> None:
    before = (await driver.tokens("google-oauth2|alice"))["id_token"]
    rotated = (await driver.http.post("/__admin/keys/rotate")).json()
    keys = (await driver.http.get("/.well-known/jwks.json")).json()["keys"]
    assert [k["kid"] for k in keys] == rotated["kids"] and len(keys) == 2
    assert (await driver.verify(before))["sub"] == "google-oauth2|alice"
    after = (await driver.tokens("google-oauth2|alice", prompt="login"))["id_token"]
    header = base64.urlsafe_b64decode(after.split(".")[0] + "==")
    assert rotated["kid"].encode() in header
    for _ in range(3):
        await driver.http.post("/__admin/keys/rotate")
    assert len((await driver.http.get("/.well-known/jwks.json")).json()["keys"]) == 3
