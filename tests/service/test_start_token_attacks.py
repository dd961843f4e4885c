"""Step 1 of /link/start: a start token that is not exactly what the Action signs is refused
with the error page (400), never a resume: its `sub` cannot be trusted."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support.harness import Harness, hs256


def assert_dead_end(response, code: str = "invalid_session_token") -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400
    assert f"<code>{code}</code>" in response.text
    assert "/continue" not in response.text
    assert "set-cookie" not in response.headers


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_alg_none_is_refused(harness: Harness) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(harness.start_claims())}."
    assert_dead_end(await harness.start(token))


async def test_hs256_with_wrong_secret_is_refused(harness: Harness) -> None:
    token = hs256(harness.start_claims(), secret="x" * 40)
    response = await harness.start(token)
    assert_dead_end(response)
    assert "signature" in response.text


async def test_rs256_start_token_is_refused(harness: Harness) -> None:
    token = harness.tenant.id_token(**harness.start_claims())
    assert_dead_end(await harness.start(token))


async def test_expired_start_token_is_refused(harness: Harness) -> None:
    now = int(harness.clock())
    response = await harness.start(iat=now - 400, exp=now - 100)
    assert_dead_end(response)
    assert "expired" in response.text


async def test_start_token_from_the_future_is_refused(harness: Harness) -> None:
    now = int(harness.clock())
    assert_dead_end(await harness.start(iat=now + 120, exp=now + 420))


async def test_start_token_older_than_300s_is_refused(harness: Harness) -> None:
    now = int(harness.clock())
    assert_dead_end(await harness.start(iat=now - 400, exp=now + 900))


async def test_wrong_issuer_is_refused(harness: Harness) -> None:
    response = await harness.start(iss="evil.example.com")
    assert_dead_end(response)
    assert "another tenant" in response.text


async def test_wrong_version_is_refused_with_a_hint_to_update_the_action(
    harness: Harness,
) -> None:
    for version in (1, 3, "2", None):
        response = await harness.start(linker_v=version)
        assert_dead_end(response)
        assert "update the linker Action" in response.text


@pytest.mark.parametrize(
    "claim", ["sub", "iss", "iat", "exp", "jti", "action", "client_id", "user"]
)
async def test_missing_claim_is_refused(harness: Harness, claim: str) -> None:
    claims = harness.start_claims()
    del claims[claim]
    response = await harness.start(hs256(claims))
    assert_dead_end(response)


async def test_garbage_and_missing_tokens_are_refused(harness: Harness) -> None:
    for token in ["", "not-a-jwt", "a.b.c", "....", "eyJ.eyJ.sig"]:
        assert_dead_end(await harness.start(token))
    response = await harness.client.get("/link/start")
    assert_dead_end(response)


async def test_missing_state_is_a_dead_end(harness: Harness) -> None:
    assert_dead_end(await harness.start(state=""), code="invalid_request")


async def test_overlong_parameter_is_refused_without_work(harness: Harness) -> None:
    response = await harness.start("x" * 20_000)
    assert_dead_end(response, code="invalid_request")
    assert harness.tenant.calls.total() == 0
