"""The login page's line about who asks you to sign in, and why."""

from __future__ import annotations

from typing import Any

from linker.devtenant.authorize_request import parse_authorize
from linker.devtenant.login_context import purpose_line
from linker.devtenant.state import SuspendedLogin
from tests.devtenant.conftest import Driver


def request(driver: Driver, **params: str) -> Any:
    query = {"client_id": "demo-app", "redirect_uri": driver.APP_CB, "response_type": "code"}
    return parse_authorize({**query, **params}, driver.state.seed, transaction_id="t")


def nested(driver: Driver, **params: str) -> Any:
    return request(
        driver, client_id="linker", redirect_uri="http://linker.test/link/callback", **params
    )


def suspend(driver: Driver, session_id: str, scope: str, connection: str) -> None:
    app_login = request(driver, scope=scope, requested_connection=connection)
    driver.state.suspend(
        SuspendedLogin(app_login, session_id, "google-oauth2|alice", {}, {}, driver.state.now())
    )


async def test_an_app_sign_in_names_the_app(driver: Driver) -> None:
    assert purpose_line(driver.state, request(driver), None) == "Demo App asks you to sign in."
    again = purpose_line(driver.state, request(driver, prompt="login"), None)
    assert "sign in again" in again and "prompt=login" in again


async def test_linkers_login_for_a_link_says_which_app_wants_which_account(driver: Driver) -> None:
    suspend(driver, "s1", "openid link_account", "github")
    line = purpose_line(driver.state, nested(driver, connection="github"), "s1")
    assert line.startswith("Demo App asked to link a github account to alice@example.com.")
    assert "Account linking (linker) asks you to sign in to the github account" in line


async def test_linkers_login_for_an_unlink_asks_for_proof_it_is_you(driver: Driver) -> None:
    suspend(driver, "s1", "openid unlink_account", "github")
    line = purpose_line(driver.state, nested(driver, connection="google-oauth2"), "s1")
    assert "asked to unlink your github account from alice@example.com" in line
    assert "needs proof that it is you, so sign in again as alice@example.com" in line


async def test_another_browsers_login_is_not_told(driver: Driver) -> None:
    suspend(driver, "s1", "openid link_account", "github")
    line = purpose_line(
        driver.state, nested(driver, connection="github", connection_scope="repo"), "s2"
    )
    assert "alice" not in line
    assert line.startswith("Account linking (linker) asks you to sign in because an application")
    assert line.endswith("The sign-in also asks github for: repo.")
