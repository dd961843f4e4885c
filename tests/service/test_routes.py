"""Health, readiness, metrics, logs that carry no secrets, and no 500 on bad input."""

from __future__ import annotations

import json
import logging
import random
import string

import httpx
import pytest

from linker.ops.observability import RedactQueryFilter
from tests.support.fake_tenant import status
from tests.support.harness import OLD_SECRET, SECRET, Harness


async def test_healthz(harness: Harness) -> None:
    response = await harness.client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_loads_keys(harness: Harness) -> None:
    response = await harness.client.get("/readyz")
    assert response.json() == {
        "status": "ready",
        "store": True,
        "keys": True,
        "clock_offset_seconds": 0.0,  # the store shares the service's clock here
    }
    assert harness.tenant.calls["GET /.well-known/jwks.json"] == 1


async def test_readyz_reports_unreachable_tenant(harness: Harness) -> None:
    harness.tenant.fail("GET /.well-known/openid-configuration", *[status(503)] * 100)
    response = await harness.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["keys"] is False


async def test_metrics_count_outcomes(harness: Harness) -> None:
    await harness.link()
    await harness.start("garbage")
    text = (await harness.client.get("/metrics")).text
    # The callback shows the account; the user's Link prepares the attempt.
    assert 'linker_requests_total{code="",status="confirm",step="callback"} 1' in text
    assert 'linker_requests_total{code="",status="pending",step="confirm"} 1' in text
    assert 'linker_requests_total{code="",status="linked",step="commit"} 1' in text
    assert (
        'linker_requests_total{code="invalid_session_token",status="dead_end",step="start"} 1'
        in text
    )
    assert "linker_request_seconds_count" in text
    assert 'linker_requests_total{code="",status="redirect",step="start"} 1' in text
    assert 'linker_upstream_attempts_total{outcome="201"} 1' in text


async def test_logs_carry_codes_but_no_tokens_or_secrets(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token_claims = harness.start_claims()
    linked = await harness.link()
    resumed = linked.resumed
    assert linked.committed is not None
    commit_token = json.loads(linked.committed.request.content)["commit_token"]
    await harness.start(hint := "x" * 50)
    # The test client's own request lines (to linker.test) are not the service's logs.
    text = "\n".join(
        r.getMessage() for r in caplog.records if "https://linker.test" not in r.getMessage()
    )
    assert '"event": "start"' in text and '"event": "callback"' in text
    assert '"status": "linked"' in text and "google-oauth2|alice" in text
    forbidden = [
        SECRET,
        OLD_SECRET,
        "linker-client-secret",
        resumed.session_token,
        token_claims["id_token_hint"],
        hint,
        commit_token,
        resumed.commit,
    ]
    for secret in forbidden:
        assert secret not in text
    assert resumed.claims["jti"] in text  # what is logged instead of the token
    # One line per step: the callback shows the account; the confirmation's line names the
    # result token it signed.
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "linker"]
    callback_lines = [line for line in lines if line["event"] == "callback"]
    assert [line["status"] for line in callback_lines] == ["confirm"]
    confirm_lines = [line for line in lines if line["event"] == "confirm"]
    assert [line["result_jti"] for line in confirm_lines] == [resumed.claims["jti"]]
    audit = [r for r in caplog.records if r.name == "linker.audit"]
    assert len(audit) == 2 and '"status": "linked"' in audit[1].getMessage()


def test_access_log_lines_are_redacted() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/link/start?session_token=eyJsecret&state=abc&x=1", "1.1", 302),
        None,
    )
    RedactQueryFilter().filter(record)
    line = record.getMessage()
    assert "eyJsecret" not in line and "abc" not in line
    assert "session_token=[redacted]&state=[redacted]&x=1" in line


async def test_no_500_on_random_input(harness: Harness) -> None:
    rng = random.Random(1234)
    alphabet = string.printable + "ü€\x00"
    for _ in range(200):
        params = {
            rng.choice(
                ["session_token", "state", "code", "error", "error_description", "x"]
            ): "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
            for _ in range(rng.randint(0, 4))
        }
        path = rng.choice(["/link/start", "/link/callback"])
        response = await harness.client.get(path, params=params)
        assert response.status_code in (200, 302, 400), (path, params, response.text)


async def test_post_is_not_allowed(harness: Harness) -> None:
    assert (await harness.client.post("/link/start")).status_code == 405


async def test_invalid_redis_url_fails_at_start() -> None:
    from linker.settings import Settings, SettingsError
    from tests.support.harness import settings_env

    with pytest.raises(SettingsError):
        Settings.from_env(settings_env(LINKER_STORE_URL="mysql://x"))
    assert httpx  # the module is used by the fixtures' transports


async def test_readyz_does_not_refetch_keys_after_a_failure_within_the_cooldown(
    harness: Harness,
) -> None:
    harness.tenant.fail("GET /.well-known/openid-configuration", *[status(503)] * 1000)
    assert (await harness.client.get("/readyz")).status_code == 503
    fetched = harness.tenant.calls["GET /.well-known/openid-configuration"]
    for _ in range(5):
        assert (await harness.client.get("/readyz")).status_code == 503
    assert harness.tenant.calls["GET /.well-known/openid-configuration"] == fetched
    harness.clock.now += 31  # after the cooldown, one more try
    harness.tenant.faults.clear()
    assert (await harness.client.get("/readyz")).status_code == 200


async def test_readyz_reports_a_key_set_without_rs256_keys(harness: Harness) -> None:
    harness.tenant.fail(
        "GET /.well-known/jwks.json",
        lambda r: httpx.Response(200, json={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
    )
    response = await harness.client.get("/readyz")
    assert response.status_code == 503 and response.json()["keys"] is False
