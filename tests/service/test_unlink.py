"""The unlink path through the public routes: re-authentication of the primary, then DELETE."""

from __future__ import annotations

from typing import Any

import httpx

from linker.core.claims import LEEWAY
from tests.support.harness import PRIMARY, Harness, Linked, nested_state, read_resume


def linked_alice(harness: Harness) -> dict[str, object]:
    harness.tenant.users.pop("github|1001")
    github = {"provider": "github", "user_id": "1001", "connection": "github", "isSocial": True}
    harness.tenant.users[PRIMARY]["identities"].append(github)
    user: dict[str, Any] = harness.start_claims()["user"]
    user["identities"].append(github)
    return user


async def unlink(harness: Harness, sub: str = PRIMARY, **claims: Any) -> Linked:
    started = await harness.start(action="unlink", user=linked_alice(harness))
    assert started.status_code == 302
    code = harness.tenant.login(started.headers["location"], sub=sub, **claims)
    return await harness.finish(await harness.callback(code=code, state=nested_state(started)))


async def test_unlink_happy_path(harness: Harness) -> None:
    resumed = await unlink(harness)
    assert resumed.status == "unlinked"
    assert resumed.result["identity"]["user_id"] == "1001"
    assert [i["user_id"] for i in harness.tenant.users[PRIMARY]["identities"]] == ["alice"]
    assert "github|1001" in harness.tenant.users  # a standalone user again


async def test_reauthentication_as_another_user_is_refused(harness: Harness) -> None:
    harness.tenant.add_user("google-oauth2|mallory", email="m@example.com")
    resumed = await unlink(harness, "google-oauth2|mallory")
    assert (resumed.status, resumed.error) == ("denied", "reauthentication_failed")
    assert len(harness.tenant.users[PRIMARY]["identities"]) == 2
    assert harness.tenant.calls["DELETE identities"] == 0


async def test_unlink_with_expired_hint_is_refused(harness: Harness) -> None:
    now = int(harness.clock())
    hint = harness.hint(iat=now - LEEWAY - 200, exp=now - LEEWAY - 1)
    resumed = read_resume(
        await harness.start(action="unlink", user=linked_alice(harness), id_token_hint=hint)
    )
    assert resumed.error == "invalid_id_token_hint"


async def test_unlink_whose_answer_was_lost_is_recognised(harness: Harness) -> None:
    tenant = harness.tenant

    def unlink_then_drop(request: httpx.Request) -> httpx.Response:
        tenant.answer("DELETE identities", request)
        raise httpx.RemoteProtocolError("connection dropped", request=request)

    tenant.fail("DELETE identities", unlink_then_drop)
    assert (await unlink(harness)).status == "unlinked"
    assert tenant.calls["DELETE identities"] == 1


async def test_tenant_refuses_to_remove_main_identity(harness: Harness) -> None:
    harness.tenant.fail(
        "DELETE identities",
        lambda r: httpx.Response(
            400, json={"statusCode": 400, "message": "Main identity cannot be removed."}
        ),
    )
    assert (await unlink(harness)).error == "primary_identity"
