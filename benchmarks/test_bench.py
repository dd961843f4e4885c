"""Benchmarks of the hot paths, and the memory a pending attempt costs: `make bench`.
Not run by `make test`.

The numbers that matter: token checks per start, and a whole start + callback in-process
against the faked tenant (no network), which bounds what one worker can serve.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from asyncio import AbstractEventLoop
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import KeySet, RSAKey
from pytest_benchmark.fixture import BenchmarkFixture
from redis.asyncio import Redis

from linker.app import create_app
from linker.core.action_tokens import decode_start_token
from linker.core.id_tokens import verify_rs256
from linker.core.merge import merge_metadata
from linker.core.pkce import random_token
from linker.core.transaction import Transaction
from linker.state.attempts import Attempts
from linker.state.store import MemoryStore, RedisStore
from linker.tenant.upstream import Retrier
from linker.testing import FakeClock
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import (
    PRIMARY,
    SECONDARY,
    Harness,
    hs256,
    make_settings,
    nested_state,
    start_claims,
)
from tests.support.httpx_upstream import HttpxUpstream
from tests.support.redis_server import redis_server


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


def test_decode_start_token(benchmark: BenchmarkFixture, key: RSAKey) -> None:
    settings = make_settings()
    clock = FakeClock()
    tenant = FakeTenant(key=key, clock=clock)
    token = hs256(start_claims(now=int(clock()), hint=tenant.id_token(sub=PRIMARY)))
    result = benchmark(
        decode_start_token,
        token,
        secrets=settings.action_secrets,
        domain="tenant.test",
        now=clock(),
    )
    assert result.sub == PRIMARY


def test_verify_hint_rs256(benchmark: BenchmarkFixture, key: RSAKey) -> None:
    tenant = FakeTenant(key=key, clock=FakeClock())
    token = tenant.id_token(sub=PRIMARY)
    keys = KeySet([key])
    assert benchmark(verify_rs256, token, keys)["sub"] == PRIMARY


def test_merge_metadata(benchmark: BenchmarkFixture) -> None:
    primary = {f"k{i}": {"nested": {"a": i, "b": [i]}} for i in range(50)}
    secondary = {f"k{i}": {"nested": {"c": i}} for i in range(25, 75)}
    merged = benchmark(merge_metadata, primary, secondary, "primary-wins")
    assert len(merged) == 75


@contextmanager
def in_process(tenant: FakeTenant, clock: FakeClock) -> Iterator[tuple[AbstractEventLoop, Harness]]:
    """A loop, and the service on it against `tenant`, reached through ASGI (no network)."""
    loop = asyncio.new_event_loop()
    settings = make_settings()
    upstream = httpx.AsyncClient(transport=tenant.transport())
    app = create_app(
        settings,
        http=HttpxUpstream(upstream),
        store=MemoryStore(),
        clock=clock,
        retrier=Retrier(clock=clock, sleep=clock.sleep),
    )
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    client = httpx.AsyncClient(transport=transport, base_url=settings.public_url)
    try:
        yield loop, Harness(tenant=tenant, clock=clock, client=client, settings=settings, app=app)
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(upstream.aclose())
        loop.close()


def test_start_and_callback_in_process(benchmark: BenchmarkFixture, key: RSAKey) -> None:
    """One whole link (start, nested login, callback) against the faked tenant."""
    clock = FakeClock()
    tenant = FakeTenant(key=key, clock=clock)
    tenant.add_user(PRIMARY, email="alice@example.com")

    async def one_link() -> str:
        tenant.users[PRIMARY]["identities"] = tenant.users[PRIMARY]["identities"][:1]
        tenant.add_user(SECONDARY, email="alice@example.com")
        started = await harness.start()
        code = tenant.login(started.headers["location"], sub=SECONDARY)
        done = await harness.finish(await harness.callback(code=code, state=nested_state(started)))
        return done.status

    with in_process(tenant, clock) as (loop, harness):
        assert benchmark(lambda: loop.run_until_complete(one_link())) == "linked"


@pytest.mark.parametrize("case", ["candidates", "no_candidate"])
def test_suggest_answer_in_process(benchmark: BenchmarkFixture, key: RSAKey, case: str) -> None:
    """`/link/suggest` with and without an account to offer, against the faked tenant: the
    two answers' times should differ by no more than noise (docs/protocol.md section 8)."""
    clock = FakeClock()
    tenant = FakeTenant(key=key, clock=clock)
    current = tenant.add_user("github|1005", email="Grace@Example.com")
    current["created_at"] = "2024-01-01T00:10:00.000Z"
    older = tenant.add_user("auth0|grace", email="grace@example.com", connection="db")
    older["created_at"] = "2024-01-01T00:01:00.000Z"
    older["email_verified"] = case == "candidates"
    user = {k: current[k] for k in ("email", "email_verified", "identities")}

    async def one_answer() -> bool:
        claims = start_claims(
            now=int(clock()),
            hint="unused",
            sub="github|1005",
            action="suggest",
            suggest="suggest",
            requested_connection=None,
            id_token_hint=None,
            user=user,
        )
        params = {"session_token": hs256(claims), "state": "s"}
        page = await harness.client.get("/link/suggest", params=params)
        assert page.status_code == 200
        return "/link/suggest/choose" in page.text

    with in_process(tenant, clock) as (loop, harness):
        assert benchmark(lambda: loop.run_until_complete(one_answer())) == (case == "candidates")


def pending_transaction(index: int) -> Transaction:
    """A transaction as /link/start makes it, with ids of the lengths linker uses."""
    return Transaction(
        id=random_token(),
        action="link",
        primary_user_id=f"google-oauth2|{100000000000000000000 + index}",
        primary_email=f"user{index}@example.com",
        client_id="a" * 32,
        connection="github",
        connection_scope=None,
        outer_state=random_token(),
        nonce=random_token(),
        code_verifier=random_token(),
        ip="203.0.113.7",
        created_at=1_700_000_000.0,
        expires_at=1_700_000_600.0,
    )


async def _fill(attempts: Attempts, count: int) -> None:
    for index in range(count):
        txn = pending_transaction(index)
        await attempts.first_use(random_token(), ttl=330)
        await attempts.open(txn, ttl=600)


def test_bytes_per_pending_attempt_in_memory(benchmark: BenchmarkFixture) -> None:
    """Everything a start leaves in the memory store: its jti, the transaction, the index."""
    count = 5_000
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    attempts = Attempts(MemoryStore(), max_pending_per_user=5)
    asyncio.run(_fill(attempts, count))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    per_attempt = sum(s.size_diff for s in after.compare_to(before, "filename")) / count
    print(f"\nmemory store: {per_attempt:.0f} bytes per pending attempt")
    assert per_attempt <= 1024
    benchmark(lambda: asyncio.run(_fill(Attempts(MemoryStore(), max_pending_per_user=5), 100)))


def test_bytes_per_pending_attempt_in_redis(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    """The same in Redis, as Redis counts it (MEMORY USAGE of each key a start writes)."""

    async def measure(url: str) -> float:
        store = RedisStore.from_url(url)
        await _fill(Attempts(store, max_pending_per_user=5), 200)
        raw = Redis.from_url(url)
        total = 0
        async for key in raw.scan_iter(match="linker:*"):
            total += int(await raw.memory_usage(key, samples=0) or 0)
        await raw.aclose()
        await store.aclose()
        return total / 200

    with redis_server(tmp_path) as url:
        per_attempt = asyncio.run(measure(url))
        print(f"\nredis store: {per_attempt:.0f} bytes per pending attempt")
        benchmark(lambda: asyncio.run(measure(url)))


def test_cpu_per_redis_command(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    """The store's client CPU per Redis command under load (many steps waiting on it at once,
    as at concurrency 200), with the parser redis-py picked: its own, or hiredis when
    installed. Measured with and without hiredis, the same: about 22 us each."""
    from redis.utils import HIREDIS_AVAILABLE

    tasks, rounds = 100, 100

    async def measure(url: str) -> float:
        store = RedisStore.from_url(url)

        async def steps(task: int) -> None:
            for n in range(rounds):
                key = f"bench:{task}:{n}"
                await store.put(key, "x" * 400, 60)
                await store.get(key)
                await store.take(key)

        await asyncio.gather(*(steps(t) for t in range(10)))  # connections open, scripts loaded
        began = time.thread_time()
        await asyncio.gather(*(steps(t) for t in range(tasks)))
        spent = time.thread_time() - began
        await store.aclose()
        return spent * 1e6 / (tasks * rounds * 3)

    with redis_server(tmp_path) as url:
        per_command = asyncio.run(measure(url))
        parser = "hiredis" if HIREDIS_AVAILABLE else "redis-py's own parser"
        print(f"\nredis store: {per_command:.1f} us of client CPU per command ({parser})")
        benchmark(lambda: asyncio.run(measure(url)))
