"""The Action worker: errors, crashes, hangs and concurrency, with small Action files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from linker.devtenant import create_dev_tenant
from linker.devtenant.action_runner import ActionRunner, ActionWorkerError
from tests.devtenant.conftest import Driver, MakeConfig, MakeDriver


def action(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "action.js"
    path.write_text(f"exports.onExecutePostLogin = async (event, api) => {{\n{body}\n}};\n")
    return path


async def test_an_action_that_throws_denies_with_its_message(
    tmp_path: Path, make_driver: MakeDriver
) -> None:
    async with make_driver(action_path=action(tmp_path, 'throw new Error("boom <&>");')) as d:
        url = await d.sign_in("github|1001", state="s")
    assert d.query_of(url) == {
        "error": "access_denied",
        "error_description": "boom <&>",
        "state": "s",
    }


async def test_deny_and_access_token_claims(tmp_path: Path, make_driver: MakeDriver) -> None:
    body = (
        'if (event.user.user_id === "github|1002") { api.access.deny("unverified"); return; }\n'
        'api.accessToken.setCustomClaim("https://t/a", 1);\n'
        'api.idToken.setCustomClaim("sub", "forged");'
    )
    async with make_driver(action_path=action(tmp_path, body)) as d:
        denied = await d.sign_in("github|1002")
        assert d.query_of(denied)["error_description"] == "unverified"
        tokens = await d.tokens("github|1001", prompt="login")
        assert (await d.verify(tokens["access_token"]))["https://t/a"] == 1
        # Reserved claims are not the Action's to set.
        assert (await d.verify(tokens["id_token"]))["sub"] == "github|1001"


async def test_a_crash_is_reported_and_the_worker_restarts(
    tmp_path: Path, make_driver: MakeDriver
) -> None:
    body = (
        'if (event.request.query.crash) { process.stderr.write("going down\\n"); process.exit(3); }'
    )
    async with make_driver(action_path=action(tmp_path, body)) as d:
        crash = await d.http.get(
            "/authorize", params=d.authorize_params(connection="github", crash="1")
        )
        page = await d.follow(crash)
        form = next(f for f in d.forms_of(page.text) if f.fields.get("user_id") == "github|1001")
        response = await d.http.post(form.action, data=form.fields)
        assert response.status_code == 500
        assert "exited with code 3" in response.text
        assert "going down" in response.text
        url = await d.sign_in("github|1001", prompt="login")
        assert "code=" in url
        assert d.app.state.actions.starts == 2


async def test_a_hung_action_times_out(tmp_path: Path, make_driver: MakeDriver) -> None:
    body = "if (event.request.query.hang) { while (true) {} }"
    async with make_driver(action_path=action(tmp_path, body)) as d:
        usual, d.app.state.actions.timeout = d.app.state.actions.timeout, 0.5
        page = await d.follow(
            await d.http.get("/authorize", params=d.authorize_params(connection="github", hang="1"))
        )
        response = await d.pick(page, "github|1001")
        assert response.status_code == 500
        assert "did not finish" in response.text
        # The next login starts a new worker (Node's start-up on a busy machine can take
        # longer than half a second): the usual time limit again.
        d.app.state.actions.timeout = usual
        assert "code=" in await d.sign_in("github|1001", prompt="login")


async def test_concurrent_logins_share_one_worker(tmp_path: Path, make_driver: MakeDriver) -> None:
    # Each Action waits a different time, so the worker answers out of order.
    body = (
        "await new Promise((r) => setTimeout(r, Number(event.request.query.wait)));\n"
        "api.idToken.setCustomClaim('https://t/wait', event.request.query.wait);"
    )
    waits = [120, 10, 60, 0, 90]
    async with make_driver(action_path=action(tmp_path, body)) as d:
        results = await asyncio.gather(*(login_waiting(d, w) for w in waits))
        assert d.app.state.actions.starts == 1
    assert results == [str(w) for w in waits]


async def login_waiting(d: Driver, wait: int) -> str:
    """One full login whose Action waits `wait` ms; returns the claim it set."""
    verifier, challenge = d.pkce()
    params = {
        **d.authorize_params(connection="github", wait=str(wait), prompt="login"),
        "code_challenge": challenge,
    }
    page = await d.follow(await d.http.get("/authorize", params=params))
    response = await d.pick(page, "github|1001")
    exchanged = await d.http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": d.query_of(response.headers["location"])["code"],
            "redirect_uri": d.APP_CB,
            "code_verifier": verifier,
            "client_id": "demo-app",
            "client_secret": d.SECRETS["demo-app"],
        },
    )
    return str((await d.verify(exchanged.json()["id_token"]))["https://t/wait"])


async def test_redirects_are_refused_where_auth0_cannot_redirect(
    tmp_path: Path, make_driver: MakeDriver
) -> None:
    body = 'api.redirect.sendUserTo("http://elsewhere.test/", {query: {a: "1"}});'
    async with make_driver(action_path=action(tmp_path, body)) as d:
        url = await d.sign_in("github|1001", scope="openid offline_access")
        assert url.startswith("http://elsewhere.test/?a=1&state=")
        silent = await d.http.get("/authorize", params=d.authorize_params(prompt="none", state="q"))
        assert d.query_of(silent.headers["location"])["error"] == "interaction_required"
    # A refresh token grant runs the Action too, and a redirect there fails the grant.
    refresh_body = (
        'if (event.transaction.protocol === "oauth2-refresh-token") {\n'
        '  api.redirect.sendUserTo("http://elsewhere.test/");\n}'
    )
    async with make_driver(action_path=action(tmp_path, refresh_body)) as d:
        tokens = await d.tokens("github|1001", scope="openid offline_access")
        response = await d.http.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": "demo-app",
                "client_secret": d.SECRETS["demo-app"],
            },
        )
        assert (response.status_code, response.json()["error"]) == (403, "access_denied")


async def test_an_app_serves_one_event_loop(tmp_path: Path) -> None:
    runner = ActionRunner(action(tmp_path, ""))
    runner._loop = asyncio.new_event_loop()  # as if an earlier loop had started it
    try:
        with pytest.raises(ActionWorkerError, match="another event loop"):
            await runner.run("onExecutePostLogin", {}, {})
    finally:
        runner._loop.close()


def test_a_missing_action_file_fails_loudly(make_config: MakeConfig, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="post-login Action was not found"):
        create_dev_tenant(make_config(action_path=tmp_path / "nope.js"))


def test_the_default_action_is_the_shipped_shim(make_config: MakeConfig) -> None:
    app = create_dev_tenant(make_config())
    path = app.state.actions.action_path
    assert path.parts[-3:] == ("deploy", "action", "linker-action.js")
    assert path.is_file()
