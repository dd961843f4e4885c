"""A store filled by a flood of valid starts refuses new attempts only: every attempt started
before the flood still links, through the public routes; on the memory store's bound and on a
Redis `maxmemory` with `noeviction`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from linker.state import store as store_module
from linker.state.store import MemoryStore, RedisStore, Store
from linker.testing import FakeClock
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import (
    PRIMARY,
    Harness,
    hs256,
    make_settings,
    nested_state,
    read_resume,
    running,
)

BEFORE = [f"github|{8100 + i}" for i in range(4)]
FLOOD_LIMIT = 500


async def flood(harness: Harness) -> tuple[int, list[Any]]:
    """Valid starts by ever new users until the store refuses them; (accepted, refusals)."""
    for accepted in range(FLOOD_LIMIT):
        user = f"auth0|flood{harness.extra.setdefault('flooded', 0) + accepted}"
        claims = harness.start_claims(sub=user, id_token_hint=harness.hint(sub=user))
        started = await harness.start(hs256(claims))
        if started.status_code != 302:
            harness.extra["flooded"] += accepted + 1
            return accepted, [read_resume(started)]
    raise AssertionError(f"{FLOOD_LIMIT} starts and the store never refused one")


async def before_and_flood(harness: Harness) -> None:
    for sub in BEFORE:
        harness.tenant.add_user(sub, email="alice@example.com", user_metadata={sub[7:]: 1})
    started = [await harness.start() for _ in BEFORE]
    assert [s.status_code for s in started] == [302] * len(BEFORE)
    accepted, refusals = await flood(harness)
    assert accepted > 0
    refused = refusals[0]
    assert (refused.status, refused.error) == ("failed", "upstream_unavailable")
    assert "Too many links are being started" in refused.result["error_description"]
    # Every attempt begun before the flood: signed in, called back, committed: linked.
    for start, sub in zip(started, BEFORE, strict=True):
        code = harness.tenant.login(start.headers["location"], sub=sub)
        linked = await harness.finish(await harness.callback(code=code, state=nested_state(start)))
        assert linked.status == "linked", (linked.resumed.error, linked.committed)
    identities = {
        f"{i['provider']}|{i['user_id']}" for i in harness.tenant.users[PRIMARY]["identities"]
    }
    assert set(BEFORE) <= identities
    metadata = harness.tenant.users[PRIMARY]["user_metadata"]
    assert all(metadata[sub[7:]] == 1 for sub in BEFORE)  # merged, nothing left owed
    # And the next new attempt is still refused, counted in the metrics.
    assert (await flood(harness))[0] == 0
    text = (await harness.client.get("/metrics")).text
    assert 'linker_starts_refused_total{reason="room"}' in text
    assert "linker_store_fill " in text


async def test_a_start_refused_for_room_keeps_its_start_token(
    tenant: FakeTenant, clock: FakeClock
) -> None:
    """The store takes the start token's mark but not its transaction: the start is refused
    for room, and once attempts finish, the same start URL starts (it was not spent)."""
    store = MemoryStore(max_entries=60, clock=clock)
    async with running(tenant, clock, make_settings(), store=store) as harness:
        started = []
        for n in range(FLOOD_LIMIT):
            user = f"auth0|flood{n}"
            answer = await harness.start(
                hs256(harness.start_claims(sub=user, id_token_hint=harness.hint(sub=user)))
            )
            if answer.status_code != 302:
                break
            started.append(answer)

        async def cancel_one() -> None:  # a nested login cancelled: its transaction is taken
            back = await harness.callback(error="access_denied", state=nested_state(started.pop(0)))
            assert read_resume(back).error == "cancelled"

        await cancel_one()  # room for a start token's mark, not for its transaction
        user = "auth0|late"
        token = hs256(harness.start_claims(sub=user, id_token_hint=harness.hint(sub=user)))
        refused = read_resume(await harness.start(token))
        assert "Too many links are being started" in refused.result["error_description"]
        for _ in range(3):
            await cancel_one()
        assert (await harness.start(token)).status_code == 302


async def test_a_flood_that_fills_the_memory_store_leaves_room_to_finish(
    tenant: FakeTenant, clock: FakeClock
) -> None:
    store = MemoryStore(max_entries=60, clock=clock)
    async with running(tenant, clock, make_settings(), store=store) as harness:
        await before_and_flood(harness)
        assert len(store) <= 60


@pytest.fixture
async def small_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Store]:
    """The module's Redis with `maxmemory` set a little above what it uses now."""
    monkeypatch.setattr(store_module, "FILL_SECONDS", 0.0)  # read the fill on every start
    async with Redis.from_url(redis_url) as raw:
        await raw.flushdb()
        used = int((await raw.info("memory"))["used_memory"])
        await raw.config_set("maxmemory-policy", "noeviction")
        await raw.config_set("maxmemory", str(used * 2))
        opened = RedisStore.from_url(redis_url)
        try:
            yield opened
        finally:
            await opened.aclose()
            await raw.config_set("maxmemory", "0")
            await raw.flushdb()


@pytest.mark.redis
async def test_a_flood_that_fills_redis_maxmemory_leaves_room_to_finish(
    tenant: FakeTenant, clock: FakeClock, small_redis: Store
) -> None:
    async with running(tenant, clock, make_settings(), store=small_redis) as harness:
        await before_and_flood(harness)
