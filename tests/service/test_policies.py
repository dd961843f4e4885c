"""Steps 2, 4 and 5 of /link/start: clients, request shape, policies, the unlink target."""

from __future__ import annotations

from typing import Any

import pytest

from linker.testing import query_of
from tests.support.harness import Harness, nested_state, read_resume


async def start_error(harness: Harness, **claims: Any) -> str | None:
    resumed = read_resume(await harness.start(**claims))
    assert resumed.status == "denied"
    return resumed.error


@pytest.mark.parametrize("env_overrides", [{"LINKER_ALLOWED_CLIENT_IDS": "other-app, third"}])
async def test_client_not_allowed(harness: Harness) -> None:
    assert await start_error(harness) == "client_not_allowed"


async def test_both_scopes_at_once_is_invalid(harness: Harness) -> None:
    assert await start_error(harness, action="invalid") == "invalid_request"


async def test_missing_connection_is_invalid(harness: Harness) -> None:
    assert await start_error(harness, requested_connection=None) == "invalid_request"


@pytest.mark.parametrize("env_overrides", [{"LINKER_REQUIRE_VERIFIED_EMAIL": "true"}])
async def test_unverified_primary_email(harness: Harness) -> None:
    user = harness.start_claims()["user"] | {"email_verified": False}
    assert await start_error(harness, user=user) == "email_not_verified"
    assert (await harness.start()).status_code == 302  # verified passes


@pytest.mark.parametrize("env_overrides", [{"LINKER_ENFORCE_MFA": "true"}])
async def test_mfa_required_when_enrolled(harness: Harness) -> None:
    assert (
        await start_error(harness, enrolled_factors=["otp"], authentication_methods=["pwd"])
        == "mfa_required"
    )
    ok = await harness.start(enrolled_factors=["otp"], authentication_methods=["pwd", "mfa"])
    assert ok.status_code == 302
    assert (await harness.start(enrolled_factors=[])).status_code == 302  # nothing enrolled


@pytest.mark.parametrize("env_overrides", [{"LINKER_PIN_IP": "true"}])
async def test_ip_pinned_at_start(harness: Harness) -> None:
    assert await start_error(harness, ip="203.0.113.9") == "ip_mismatch"


@pytest.mark.parametrize("env_overrides", [{"LINKER_PIN_IP": "true"}])
async def test_ip_pinned_at_callback(harness: Harness) -> None:
    started = await harness.start()
    code = harness.tenant.login(started.headers["location"], sub="github|1001")
    # Same cookies, another network: the callback comes from another address.
    async with harness.browser_at("198.51.100.7") as client:
        response = await client.get(
            "/link/callback", params={"code": code, "state": nested_state(started)}
        )
    assert response.status_code == 400
    assert "<code>ip_mismatch</code>" in response.text
    assert harness.tenant.calls["POST identities"] == 0


def with_github(harness: Harness, *extra: dict[str, str]) -> dict[str, object]:
    user: dict[str, Any] = harness.start_claims()["user"]
    user["identities"].append(
        {"provider": "github", "user_id": "1001", "connection": "github", "isSocial": True}
    )
    user["identities"].extend(extra)
    return user


async def test_unlink_of_connection_not_linked(harness: Harness) -> None:
    assert await start_error(harness, action="unlink") == "identity_not_linked"


async def test_unlink_of_primary_identity(harness: Harness) -> None:
    error = await start_error(harness, action="unlink", requested_connection="google-oauth2")
    assert error == "primary_identity"


async def test_unlink_ambiguous_identity(harness: Harness) -> None:
    user = with_github(harness, {"provider": "github", "user_id": "2002", "connection": "github"})
    assert await start_error(harness, action="unlink", user=user) == "ambiguous_identity"
    chosen = await harness.start(action="unlink", user=user, requested_identity="github|2002")
    assert chosen.status_code == 302


async def test_unlink_reauthenticates_at_the_primary_connection(harness: Harness) -> None:
    started = await harness.start(
        action="unlink", user=with_github(harness), requested_connection_scope="repo"
    )
    params = query_of(started.headers["location"])
    assert params["connection"] == "google-oauth2"
    assert "connection_scope" not in params
    assert params["prompt"] == "login" and params["max_age"] == "0"
