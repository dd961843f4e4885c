"""Transaction stores: one-shot atomic take, expiry, bounds; Redis against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from linker.store import GRACE_SECONDS, MemoryStore, RedisStore, StoreUnavailable
from linker.testing import free_port
from linker.tokens import Identity
from linker.transaction import Transaction
from tests.support.harness import Clock, Harness, read_resume
from tests.support.redis_server import redis_server


def txn(txn_id: str = "t1", **overrides: object) -> Transaction:
    fields: dict[str, object] = dict(
        id=txn_id,
        action="unlink",
        primary_user_id="auth0|a",
        primary_email=None,
        client_id="app",
        connection="github",
        connection_scope=None,
        outer_state="s",
        nonce="n",
        code_verifier="v",
        ip="127.0.0.1",
        created_at=1.0,
        expires_at=2.0,
        target=Identity("github", "1|2", "github"),
    )
    fields.update(overrides)
    return Transaction(**fields)  # type: ignore[arg-type]


async def test_memory_take_is_one_shot() -> None:
    store = MemoryStore()
    await store.put(txn(), ttl=60)
    assert await store.take("t1") == txn()
    assert await store.take("t1") is None


async def test_memory_concurrent_takes_yield_one_winner() -> None:
    store = MemoryStore()
    await store.put(txn(), ttl=60)
    results = await asyncio.gather(*[store.take("t1") for _ in range(20)])
    assert sum(r is not None for r in results) == 1


async def test_memory_entries_expire() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    await store.put(txn(), ttl=60)
    clock.now += 60 + GRACE_SECONDS + 1
    assert await store.take("t1") is None


async def test_memory_is_bounded_under_a_flood() -> None:
    clock = Clock()
    store = MemoryStore(max_entries=100, clock=clock)
    for i in range(1000):
        await store.put(txn(f"t{i}"), ttl=60)
    assert len(store) <= 100
    assert await store.take("t999") is not None  # the newest survive
    assert await store.take("t0") is None


async def test_memory_evicts_expired_before_live() -> None:
    clock = Clock()
    store = MemoryStore(max_entries=3, clock=clock)
    await store.put(txn("live"), ttl=10_000)
    await store.put(txn("old1"), ttl=1)
    await store.put(txn("old2"), ttl=1)
    clock.now += 1 + GRACE_SECONDS + 1
    await store.put(txn("new"), ttl=60)
    assert await store.take("live") is not None


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
async def redis_store(redis_url: str) -> AsyncIterator[RedisStore]:
    store = RedisStore.from_url(redis_url)
    yield store
    await store.aclose()


@pytest.mark.redis
async def test_redis_roundtrip_and_one_shot(redis_store: RedisStore) -> None:
    assert await redis_store.ping()
    await redis_store.put(txn("r1"), ttl=60)
    assert await redis_store.take("r1") == txn("r1")
    assert await redis_store.take("r1") is None


@pytest.mark.redis
async def test_redis_concurrent_takes_yield_one_winner(redis_store: RedisStore) -> None:
    await redis_store.put(txn("r2"), ttl=60)
    results = await asyncio.gather(*[redis_store.take("r2") for _ in range(20)])
    assert sum(r is not None for r in results) == 1


@pytest.mark.redis
async def test_redis_sets_a_ttl(redis_store: RedisStore, redis_url: str) -> None:
    from redis.asyncio import Redis

    await redis_store.put(txn("r3"), ttl=60)
    raw = Redis.from_url(redis_url)
    ttl = await raw.ttl("linker:txn:r3")
    await raw.aclose()
    assert 60 < ttl <= 60 + GRACE_SECONDS


async def test_redis_down_is_reported_not_raised(tmp_path: Path) -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    assert await store.ping() is False
    with pytest.raises(StoreUnavailable):
        await store.put(txn(), ttl=60)
    with pytest.raises(StoreUnavailable):
        await store.take("t1")
    await store.aclose()


@pytest.mark.redis
@pytest.mark.parametrize("env_overrides", [{}])
async def test_link_through_a_redis_store(harness: Harness, redis_url: str) -> None:
    """The whole link with transactions in Redis (as several replicas would share them)."""
    store = RedisStore.from_url(redis_url)
    app = harness.client._transport.app  # type: ignore[attr-defined]
    app.state.service.store = store
    try:
        assert read_resume(await harness.link()).status == "linked"
    finally:
        await store.aclose()


async def test_memory_abandoned_transactions_do_not_linger() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    for i in range(50):
        await store.put(txn(f"abandoned{i}"), ttl=60)
    clock.now += 60 + GRACE_SECONDS + 1
    await store.put(txn("fresh"), ttl=60)
    assert len(store) == 1


async def test_store_down_at_start_resumes_with_upstream_unavailable(harness: Harness) -> None:
    app = harness.client._transport.app  # type: ignore[attr-defined]
    down = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    app.state.service.store = down
    try:
        resumed = read_resume(await harness.start())
    finally:
        await down.aclose()
    assert (resumed.status, resumed.error) == ("failed", "upstream_unavailable")


async def test_store_down_at_callback_is_a_503_page(harness: Harness) -> None:
    started = await harness.start()
    app = harness.client._transport.app  # type: ignore[attr-defined]
    down = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    app.state.service.store = down
    try:
        response = await harness.callback(code="c", state="some-state")
    finally:
        await down.aclose()
    assert response.status_code == 503
    assert "<code>upstream_unavailable</code>" in response.text
    assert started.status_code == 302
