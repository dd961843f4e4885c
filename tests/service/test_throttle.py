"""Start throttling: a flood from one address (or one application) is refused with a
retryable `failed` `throttled` before it writes anything, while other addresses start as
usual; the buckets live in the store, so replicas share them."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
import pytest
from redis.asyncio import Redis

from linker.settings import Settings, SettingsError
from linker.state.store import RedisStore
from linker.testing import FakeClock
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import Harness, hs256, make_settings, read_resume, running, settings_env

OUTER = "outer-state"


async def start_from(harness: Harness, browser: httpx.AsyncClient, token: str) -> httpx.Response:
    return await browser.get("/link/start", params={"session_token": token, "state": OUTER})


def token(harness: Harness, **claims: object) -> str:
    return hs256(harness.start_claims(**claims))


@pytest.mark.parametrize("env_overrides", [{"LINKER_START_LIMIT_PER_ADDRESS": "3/60"}])
async def test_a_flood_from_one_address_is_throttled_and_others_are_not(
    harness: Harness,
) -> None:
    flood, other = harness.browser_at("203.0.113.7"), harness.browser_at("198.51.100.9")
    async with flood, other:
        started = [await start_from(harness, flood, token(harness)) for _ in range(3)]
        assert [s.status_code for s in started] == [302] * 3
        again = token(harness)
        refused = read_resume(await start_from(harness, flood, again))
        assert (refused.status, refused.error) == ("failed", "throttled")
        assert "try again in a minute" in refused.result["error_description"]
        assert (await start_from(harness, other, token(harness))).status_code == 302
        # Refilled at 3 a minute: 20 s later one more, and the refused URL itself works.
        harness.clock.now += 20
        assert (await start_from(harness, flood, again)).status_code == 302
        assert (await start_from(harness, flood, token(harness))).status_code != 302
    text = (await harness.client.get("/metrics")).text
    assert 'linker_starts_refused_total{reason="throttled_address"} 2.0' in text


@pytest.mark.parametrize("env_overrides", [{"LINKER_START_LIMIT_PER_CLIENT": "2/60"}])
async def test_one_application_is_throttled_whatever_its_addresses(harness: Harness) -> None:
    answers = []
    for i in range(3):
        async with harness.browser_at(f"192.0.2.{i + 1}") as browser:
            answers.append(await start_from(harness, browser, token(harness)))
    assert [a.status_code for a in answers[:2]] == [302, 302]
    assert read_resume(answers[2]).error == "throttled"


@pytest.mark.redis
async def test_replicas_share_the_buckets_through_redis(
    tenant: FakeTenant, clock: FakeClock, redis_url: str
) -> None:
    async with Redis.from_url(redis_url) as raw:
        await raw.flushdb()
    settings = make_settings(LINKER_START_LIMIT_PER_ADDRESS="4/60")
    async with AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(
                running(tenant, clock, settings, store=RedisStore.from_url(redis_url))
            )
            for _ in range(2)
        ]
        answers = []
        for i in range(6):
            replica = replicas[i % 2]
            async with replica.browser_at("203.0.113.50") as browser:
                answers.append(await start_from(replica, browser, token(replica)))
    assert [a.status_code for a in answers[:4]] == [302] * 4
    assert [read_resume(a).error for a in answers[4:]] == ["throttled", "throttled"]


@pytest.mark.parametrize("raw", ["30", "0/60", "30/0", "x/60", "30/-1"])
def test_a_bad_limit_names_its_setting(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(settings_env(LINKER_START_LIMIT_PER_ADDRESS=raw))
    assert caught.value.name == "LINKER_START_LIMIT_PER_ADDRESS"
