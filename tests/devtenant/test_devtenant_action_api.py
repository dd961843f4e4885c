"""The Action runtime's `api` and `event.transaction.protocol`, as Auth0 documents them.

- API object: https://auth0.com/docs/customize/actions/explore-triggers/signup-and-login-triggers/login-trigger/post-login-api-object
  (`api.redirect.canRedirect`, `api.user`, `api.authentication`, `api.cache`).
- Event object: https://auth0.com/docs/customize/actions/explore-triggers/signup-and-login-triggers/login-trigger/post-login-event-object
  (`event.transaction.protocol`; redirects only in interactive ones).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from linker.devtenant.action_event import PROTOCOLS, RequestInfo, build_event, can_redirect
from linker.devtenant.state import AuthMethod, Session
from tests.devtenant.conftest import Driver, MakeDriver


def action(tmp_path: Path, execute: str, on_continue: str = "") -> Path:
    path = tmp_path / "action.js"
    path.write_text(
        f"exports.onExecutePostLogin = async (event, api) => {{\n{execute}\n}};\n"
        f"exports.onContinuePostLogin = async (event, api) => {{\n{on_continue}\n}};\n"
    )
    return path


async def refreshed_claims(d: Driver, refresh_token: str) -> dict[str, Any]:
    answer = await d.http.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": "demo-app",
            "client_secret": d.SECRETS["demo-app"],
        },
    )
    assert answer.status_code == 200, answer.text
    claims: dict[str, Any] = await d.verify(answer.json()["id_token"])
    return claims


async def test_can_redirect_is_true_only_in_interactive_transactions(
    tmp_path: Path, make_driver: MakeDriver
) -> None:
    body = (
        'api.idToken.setCustomClaim("https://t/can", api.redirect.canRedirect());\n'
        'api.idToken.setCustomClaim("https://t/protocol", event.transaction.protocol);'
    )
    async with make_driver(action_path=action(tmp_path, body)) as d:
        tokens = await d.tokens("github|1001", scope="openid offline_access")
        claims = await d.verify(tokens["id_token"])
        assert (claims["https://t/can"], claims["https://t/protocol"]) == (
            True,
            "oidc-basic-profile",
        )
        later = await refreshed_claims(d, tokens["refresh_token"])
        assert (later["https://t/can"], later["https://t/protocol"]) == (
            False,
            "oauth2-refresh-token",
        )


async def test_api_user_sets_metadata_even_when_the_login_is_denied(
    tmp_path: Path, make_driver: MakeDriver
) -> None:
    body = (
        'api.user.setUserMetadata("seen", event.request.query.mark || "yes");\n'
        'api.user.setUserMetadata("theme", null);\n'
        'api.user.setAppMetadata("tier", "gold");\n'
        'if (event.request.query.mark === "deny") api.access.deny("no");'
    )
    async with make_driver(action_path=action(tmp_path, body)) as d:
        assert "code=" in await d.sign_in("google-oauth2|alice")
        user = (await d.http.get("/__admin/users/google-oauth2|alice")).json()
        assert user["user_metadata"]["seen"] == "yes"
        assert "theme" not in user["user_metadata"]  # null removes it
        assert user["user_metadata"]["preferences"]["language"] == "en"  # the rest stays
        assert user["app_metadata"]["tier"] == "gold"
        denied = await d.sign_in("google-oauth2|alice", mark="deny", prompt="login")
        assert d.query_of(denied)["error"] == "access_denied"
        user = (await d.http.get("/__admin/users/google-oauth2|alice")).json()
        assert user["user_metadata"]["seen"] == "deny"


async def test_api_cache_keeps_values_across_executions_until_they_expire(
    tmp_path: Path, make_driver: MakeDriver
) -> None:
    body = (
        'const got = api.cache.get("count");\n'
        "const next = String(Number(got ? got.value : 0) + 1);\n"
        'const written = api.cache.set("count", next, { ttl: 60000 });\n'
        'api.idToken.setCustomClaim("https://t/count", next);\n'
        'api.idToken.setCustomClaim("https://t/write", written.type);\n'
        'api.idToken.setCustomClaim("https://t/bad", api.cache.set("n", 5).type);\n'
        'api.idToken.setCustomClaim("https://t/del", api.cache.delete("none").type);'
    )
    async with make_driver(action_path=action(tmp_path, body)) as d:
        counts = []
        for _ in range(2):
            claims = await d.verify((await d.tokens("github|1001", prompt="login"))["id_token"])
            counts.append(claims["https://t/count"])
        assert counts == ["1", "2"]
        assert (claims["https://t/write"], claims["https://t/bad"]) == ("success", "error")
        assert claims["https://t/del"] == "success"
        d.clock.advance(61)  # past the ttl, on the tenant's clock
        claims = await d.verify((await d.tokens("github|1001", prompt="login"))["id_token"])
        assert claims["https://t/count"] == "1"


async def test_record_method_only_when_continuing(tmp_path: Path, make_driver: MakeDriver) -> None:
    execute = (
        "if (event.request.query.early) api.authentication.recordMethod('https://x.test/m');\n"
        "const names = event.authentication.methods.map((m) => m.name);\n"
        'api.idToken.setCustomClaim("https://t/methods", names);\n'
        'if (event.request.query.go) api.redirect.sendUserTo("http://factor.test/");'
    )
    on_continue = 'api.authentication.recordMethod("https://factor.test/otp");'
    async with make_driver(action_path=action(tmp_path, execute, on_continue)) as d:
        early = await d.sign_in("github|1001", early="1")
        assert "only available in onContinuePostLogin" in d.query_of(early)["error_description"]
        away = await d.sign_in("github|1001", go="1", prompt="login")
        assert away.startswith("http://factor.test/")
        state = d.query_of(away)["state"]
        back = await d.http.post("/continue", data={"state": state})
        assert "code=" in back.headers["location"]
        # The session now lists the recorded method, as the next login's event shows.
        url = await d.sign_in("github|1001")
        claims = await d.verify((await d.exchange(url)).json()["id_token"])
        assert claims["https://t/methods"] == ["federated", "https://factor.test/otp"]


async def test_challenge_with_is_met_or_refused_honestly(
    tmp_path: Path, make_driver: MakeDriver
) -> None:
    body = 'api.authentication.challengeWith({ type: "otp" });'
    async with make_driver(action_path=action(tmp_path, body)) as d:
        # No enrolled factor: Auth0 ignores the challenge.
        assert "code=" in await d.sign_in("google-oauth2|alice")
        # Dave has an OTP factor: a login that did MFA meets it ...
        page = await d.follow(
            await d.http.get("/authorize", params=d.authorize_params(prompt="login"))
        )
        with_mfa = await d.pick(page, "auth0|dave")
        assert "code=" in with_mfa.headers["location"]
        # ... one that did not would need the MFA prompt the dev tenant does not model.
        page = await d.follow(
            await d.http.get("/authorize", params=d.authorize_params(prompt="login"))
        )
        without = await d.pick(page, "auth0|dave", mfa="0")
        assert "does not model" in d.query_of(without.headers["location"])["error_description"]


@pytest.mark.parametrize(("protocol", "interactive"), sorted(PROTOCOLS.items()))
async def test_the_shim_redirects_only_in_interactive_protocols(
    driver: Driver, protocol: str, interactive: bool
) -> None:
    """Every documented protocol value, through the real shim from deploy/action/."""
    tenant = driver.state
    user = tenant.directory.get("google-oauth2|alice")
    connection = tenant.seed.connection("google-oauth2")
    session = Session(
        "s", user.user_id, user.user_id, connection.name, 0.0, (AuthMethod("federated", 0.0),)
    )
    event = build_event(
        tenant_domain=tenant.domain,
        client=tenant.seed.client("demo-app"),
        user=user,
        connection=connection,
        session=session,
        auth=None,
        protocol=protocol,
        request=RequestInfo(
            ip="203.0.113.7",
            hostname="127.0.0.1",
            method="GET",
            query={"requested_connection": "github", "id_token_hint": "hint"},
            body={},
        ),
        secrets=tenant.action_secrets,
        scopes=["openid", "link_account"],
    )
    context = {
        "now": int(tenant.now()),
        "issuer": tenant.domain,
        "continueState": None,
        "canRedirect": can_redirect(protocol, silent=False),
    }
    outcome = await driver.app.state.actions.run("onExecutePostLogin", event, context)
    assert outcome.thrown is None
    assert (outcome.redirect_url is not None) == interactive, protocol
