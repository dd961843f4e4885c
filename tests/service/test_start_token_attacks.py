"""Step 1 of /link/start: a start token that is not exactly what the Action signs is refused
with the error page (400), never a resume: its `sub` cannot be trusted."""

from __future__ import annotations

import base64
import json

import pytest

from linker.core.claims import LEEWAY
from tests.support.harness import Harness, assert_dead_end, deeply_nested, hs256, signed_raw


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
    response = await harness.start(iat=now - LEEWAY - 300, exp=now - LEEWAY - 1)
    assert_dead_end(response)
    assert "expired" in response.text


async def test_start_token_from_the_future_is_refused(harness: Harness) -> None:
    now = int(harness.clock())
    assert_dead_end(await harness.start(iat=now + LEEWAY + 1, exp=now + LEEWAY + 301))


async def test_start_token_older_than_300s_is_refused(harness: Harness) -> None:
    now = int(harness.clock())
    assert_dead_end(await harness.start(iat=now - 300 - LEEWAY - 1, exp=now + 900))


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


async def test_a_start_url_is_used_once_even_by_a_reload(harness: Harness) -> None:
    token = hs256(harness.start_claims())
    assert (await harness.start(token)).status_code == 302
    again = await harness.start(token)
    assert_dead_end(again)
    assert "already used" in again.text
    assert harness.tenant.calls["GET /.well-known/jwks.json"] == 1  # the replay cost nothing


async def test_nbf_in_the_future_is_refused(harness: Harness) -> None:
    response = await harness.start(nbf=int(harness.clock()) + LEEWAY + 1)
    assert_dead_end(response)
    assert "not valid yet" in response.text


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", '"1700000000"', "true"])
@pytest.mark.parametrize("claim", ["iat", "exp", "nbf"])
async def test_times_that_are_not_finite_numbers_are_refused(
    harness: Harness, claim: str, value: str
) -> None:
    claims = harness.start_claims()
    claims[claim] = "__TIME__"
    payload = json.dumps(claims).replace('"__TIME__"', value)
    assert_dead_end(await harness.start(signed_raw(payload)))


async def test_a_deeply_nested_payload_is_refused(harness: Harness) -> None:
    claims = harness.start_claims()
    claims["user"] = "__USER__"
    payload = json.dumps(claims).replace('"__USER__"', deeply_nested())
    assert_dead_end(await harness.start(signed_raw(payload)))


async def test_identities_that_are_not_a_list_are_refused(harness: Harness) -> None:
    user = {**harness.start_claims()["user"], "identities": {"provider": "github"}}
    assert_dead_end(await harness.start(user=user))
