"""The stores: atomic one-shot take and claim, expiry, bounds that never evict a live entry,
the per-user index; the same tests against memory and a real Redis; the Redis commands a link
flow costs; and the service when the store is down."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import ConnectionPool, Redis

from linker.core.identities import Identity
from linker.core.transaction import Transaction
from linker.state.attempts import GRACE_SECONDS, IN_PROGRESS, Attempts, ForAnotherUser, Prepared
from linker.state.store import MemoryStore, RedisStore, Store, StoreFull, StoreUnavailable, Write
from linker.testing import FakeClock, free_port
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import Harness, make_settings, nested_state, read_resume, running


def txn(txn_id: str = "t1", user: str = "auth0|a", **overrides: object) -> Transaction:
    fields: dict[str, object] = dict(
        id=txn_id,
        action="unlink",
        primary_user_id=user,
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


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    url = request.getfixturevalue("redis_url")
    raw = Redis.from_url(url)
    await raw.flushdb()  # the server is the module's: each test starts from an empty one
    await raw.aclose()
    redis = RedisStore.from_url(url)
    yield redis
    await redis.aclose()


async def test_take_is_one_shot_and_atomic(store: Store) -> None:
    await store.put("k", "v", 60)
    results = await asyncio.gather(*[store.take("k") for _ in range(20)])
    assert [r for r in results if r is not None] == ["v"]
    assert await store.take("k") is None


async def test_put_only_new_refuses_a_second_write(store: Store) -> None:
    assert await store.put("jti:a", "1", 60, only_new=True)
    assert not await store.put("jti:a", "1", 60, only_new=True)
    assert await store.get("jti:a") == "1"


async def test_claim_takes_once_and_leaves_its_marker(store: Store) -> None:
    await store.put("prepared:c", "attempt", 60)
    results = await asyncio.gather(
        *[store.claim("prepared:c", "outcome:c", "busy", 60) for _ in range(10)]
    )
    assert [r for r in results if r is not None] == ["attempt"]
    assert await store.get("outcome:c") == "busy"
    assert await store.claim("prepared:missing", "outcome:missing", "busy", 60) is None
    assert await store.get("outcome:missing") is None


async def test_claim_leaves_a_value_that_starts_otherwise(store: Store) -> None:
    await store.put("prepared:c", "éa attempt", 60)
    for other in ("ée", "éa attempt and more", "e"):
        found = await store.claim("prepared:c", "outcome:c", "busy", 60, if_starts_with=other)
        assert found == "éa attempt"
    assert await store.get("prepared:c") == "éa attempt"
    assert await store.get("outcome:c") is None
    assert await store.claim("prepared:c", "outcome:c", "busy", 60, if_starts_with="éa") == (
        "éa attempt"
    )
    assert await store.get("prepared:c") is None
    assert await store.get("outcome:c") == "busy"


async def test_a_claim_asked_again_by_its_holder_answers_what_it_took(store: Store) -> None:
    """The answer to a claim can be lost after the store ran it: the same holder asking again
    gets the value it took; anyone else finds it gone, and the marker stays."""
    await store.put("prepared:c", "attempt", 60)
    mine = ("claimed:c", "token-1")
    assert await store.claim("prepared:c", "outcome:c", "busy", 60, holder=mine) == "attempt"
    assert await store.claim("prepared:c", "outcome:c", "busy", 60, holder=mine) == "attempt"
    other = ("claimed:c", "token-2")
    assert await store.claim("prepared:c", "outcome:c", "busy", 60, holder=other) is None
    assert await store.claim("prepared:c", "outcome:c", "busy", 60) is None
    assert await store.get("outcome:c") == "busy"
    # A token that begins another's is not it.
    prefix = ("claimed:c", "token")
    assert await store.claim("prepared:c", "outcome:c", "busy", 60, holder=prefix) is None


async def test_replace_deletes_one_key_and_puts_another(store: Store) -> None:
    await store.put("work:c", "owed", 60)
    await store.put("outcome:c", "busy", 60)
    await store.replace("work:c", "outcome:c", "done", 60)
    assert await store.get("work:c") is None
    assert await store.get("outcome:c") == "done"
    await store.replace("work:missing", "outcome:d", "done", 60)
    assert await store.get("outcome:d") == "done"


async def test_record_writes_lists_deletes_and_unlists_in_one_step(store: Store) -> None:
    await store.put("work:{g}c", "owed", 60, index="work-index:{g}")
    await store.record(
        [
            Write("outcome:{g}c", "linked", 60),
            Write("event:{g}c", "e1", 600, index="event-index:{g}"),
            Write("work:{g}gone", "rewritten", None),  # not there: not made
        ],
        delete="work:{g}c",
        unlist=("work-index:{g}", "work:{g}c"),
    )
    assert await store.get("outcome:{g}c") == "linked"
    assert await store.get("event:{g}c") == "e1"
    assert await store.get("work:{g}c") is None
    assert await store.get("work:{g}gone") is None
    assert await store.listed(["work-index:{g}"], limit=10) == []
    # Listed after the newest listing of the index, whatever the clock says.
    for n in range(5):
        await store.record([Write(f"event:{{g}}{n}", "e", 600, index="event-index:{g}")])
    listed = await store.listed(["event-index:{g}"], limit=10)
    assert listed == ["event:{g}c", *(f"event:{{g}}{n}" for n in range(5))]
    # A rewrite of a key that is there keeps it, with its TTL.
    await store.record([Write("event:{g}c", "e2", None)])
    assert await store.get("event:{g}c") == "e2"


async def test_put_tracked_keeps_the_newest_and_deletes_the_rest(store: Store) -> None:
    for i in range(7):
        dropped = await store.put_tracked(
            f"k{i}", f"v{i}", 60, index="pending:u", keep=5, index_ttl=60
        )
        assert dropped == ([f"k{i - 5}"] if i >= 5 else [])
    values = [await store.get(f"k{i}") for i in range(7)]
    assert values == [None, None, "v2", "v3", "v4", "v5", "v6"]


async def test_put_tracked_counts_only_the_keys_still_there(store: Store) -> None:
    async def put(key: str) -> list[str]:
        return await store.put_tracked(key, "v", 60, index="pending:u", keep=5, index_ttl=60)

    for i in range(5):
        await put(f"k{i}")
    assert await store.take("k1") == "v"
    await store.delete("k3")
    assert await put("k5") == []
    assert await put("k6") == []
    assert await put("k7") == ["k0"]
    assert await put("k8") == ["k2"]


async def test_memory_put_tracked_does_not_count_expired_keys() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await store.put_tracked("old", "v", 10, index="pending:u", keep=2, index_ttl=100)
    await store.put_tracked("k1", "v", 100, index="pending:u", keep=2, index_ttl=100)
    clock.now += 11
    assert await store.put_tracked("k2", "v", 100, index="pending:u", keep=2, index_ttl=100) == []
    assert await store.put_tracked("k3", "v", 100, index="pending:u", keep=2, index_ttl=100) == [
        "k1"
    ]


async def test_attempts_cap_per_user_drops_only_that_users_oldest(store: Store) -> None:
    attempts = Attempts(store, max_pending_per_user=2)
    await attempts.open(txn("other", user="auth0|b"), ttl=60)
    for name in ("a1", "a2", "a3"):
        await attempts.open(txn(name), ttl=60)
    assert await attempts.take("a1") is None  # replaced by a3
    assert await attempts.take("a2") is not None
    assert await attempts.take("a3") is not None
    assert await attempts.take("other") is not None  # another user's attempt is untouched


async def test_attempts_taken_do_not_count_toward_the_cap(store: Store) -> None:
    attempts = Attempts(store, max_pending_per_user=2)
    await attempts.open(txn("a1"), ttl=60)
    await attempts.open(txn("a2"), ttl=60)
    assert await attempts.take("a2") is not None
    await attempts.open(txn("a3"), ttl=60)  # a1 and a3 pending: nothing goes
    assert await store.get("txn:a1") is not None
    await attempts.open(txn("a4"), ttl=60)  # the oldest still pending goes
    assert await attempts.take("a1") is None
    assert await attempts.take("a3") is not None
    assert await attempts.take("a4") is not None


def prepared(primary: str = 'auth0|ál"ice') -> Prepared:
    return Prepared(
        commit="c1",
        action="link",
        primary=primary,
        identity=Identity("github", "1001", "github"),
        connection="github",
        client_id="app",
        ip=None,
        created_at=1.0,
    )


async def test_a_prepared_attempt_is_claimed_only_by_its_own_user(store: Store) -> None:
    attempts = Attempts(store, max_pending_per_user=5)
    attempt = prepared()
    await attempts.prepare(attempt)
    # Its own id cut short, continued, or with the quote unescaped: each is another user.
    for other in ("auth0|ál", 'auth0|ál"ice2', 'auth0|ál\\"ice', 'auth0|al"ice'):
        with pytest.raises(ForAnotherUser):
            await attempts.claim("c1", other)
    assert await attempts.outcome("c1") is None  # nothing marked, nothing taken
    assert await attempts.claim("c1", attempt.primary) == attempt
    assert await attempts.outcome("c1") == IN_PROGRESS
    assert await attempts.claim("c1", attempt.primary) is None


async def test_an_attempt_prepared_by_the_previous_release_is_claimed_by_its_user(
    store: Store,
) -> None:
    """During a rolling upgrade a replica of the release before may have written the attempt,
    with its owner anywhere in the JSON: still claimed by its own user, and only by them."""
    attempts = Attempts(store, max_pending_per_user=5)
    attempt = prepared()
    data = {**attempt.__dict__, "identity": attempt.identity.to_claim()}
    await store.put("prepared:c1", json.dumps(data, separators=(",", ":")), 60)
    with pytest.raises(ForAnotherUser):
        await attempts.claim("c1", "auth0|mallory")
    assert await attempts.outcome("c1") is None  # nothing marked, nothing taken
    assert await attempts.claim("c1", attempt.primary) == attempt
    assert await attempts.outcome("c1") == IN_PROGRESS
    assert await attempts.claim("c1", attempt.primary) is None


async def test_concurrent_claims_of_its_user_and_another_take_it_once(store: Store) -> None:
    attempts = Attempts(store, max_pending_per_user=5)
    attempt = prepared()
    await attempts.prepare(attempt)
    claims = [attempts.claim("c1", user) for user in ["auth0|mallory", attempt.primary] * 5]
    results = await asyncio.gather(*claims, return_exceptions=True)
    assert [r for r in results if isinstance(r, Prepared)] == [attempt]
    assert all(r is None or isinstance(r, ForAnotherUser) for r in results[::2])
    assert await attempts.outcome("c1") == IN_PROGRESS


async def test_memory_entries_expire() -> None:
    clock = FakeClock()
    attempts = Attempts(MemoryStore(clock=clock), max_pending_per_user=5)
    await attempts.open(txn(), ttl=60)
    clock.now += 60 + GRACE_SECONDS + 1
    assert await attempts.take("t1") is None


async def test_a_full_memory_store_still_claims_and_replaces() -> None:
    store = MemoryStore(max_entries=2)
    await store.put("prepared:c", "attempt", 60)
    await store.put("work:c", "owed", 60)
    assert await store.claim("prepared:c", "outcome:c", "busy", 60) == "attempt"
    await store.replace("work:c", "outcome:d", "done", 60)  # the room `work:c` leaves
    with pytest.raises(StoreFull):  # no room, and nothing changed
        await store.replace("work:gone", "outcome:e", "done", 60)
    assert (await store.get("outcome:c"), await store.get("outcome:d")) == ("busy", "done")


async def test_a_full_memory_store_refuses_new_keys_and_keeps_live_ones() -> None:
    clock = FakeClock()
    store = MemoryStore(max_entries=3, clock=clock)
    for name in ("live", "old1", "old2"):
        await store.put(name, name, 10_000 if name == "live" else 1)
    with pytest.raises(StoreFull):
        await store.put("new", "x", 60)
    clock.now += 2  # the two short ones expire and make room
    await store.put("new", "x", 60)
    await store.put("newer", "y", 60)
    with pytest.raises(StoreFull):
        await store.put("newest", "z", 60)
    assert await store.get("live") == "live"


async def test_memory_abandoned_entries_do_not_linger() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    for i in range(50):
        await store.put(f"abandoned{i}", "x", 60)
    clock.now += 61
    await store.put("fresh", "x", 60)
    assert len(store) == 1


async def test_memory_keys_with_many_distinct_ttls_leave_nothing_behind() -> None:
    # Start tokens' jti keys live until the token's `exp`: a different TTL for every start.
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(5_000):
            await store.put(f"jti:{i}", "1", 1 + i / 10_000)
        clock.now += 10
        await store.put("fresh", "x", 60)
        left = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(store) == 1
    # A dict keeps its table once grown (~0.2 MB here); a queue per TTL left ~4 MB behind.
    assert left < 500_000, f"{left} bytes left behind by 5,000 expired keys"


@pytest.mark.redis
async def test_redis_sets_a_ttl(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    await Attempts(store, max_pending_per_user=5).open(txn("r3"), ttl=60)
    raw = Redis.from_url(redis_url)
    ttl = await raw.ttl("linker:txn:r3")
    await raw.aclose()
    await store.aclose()
    assert 60 < ttl <= 60 + GRACE_SECONDS


async def test_redis_down_is_reported_not_raised() -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    assert await store.ping() is False
    with pytest.raises(StoreUnavailable):
        await store.put("k", "v", 60)
    with pytest.raises(StoreUnavailable):
        await store.take("k")
    with pytest.raises(StoreUnavailable):
        await store.claim("k", "m", "busy", 60)
    with pytest.raises(StoreUnavailable):
        await store.replace("k", "m", "v", 60)
    with pytest.raises(StoreUnavailable):
        await store.put_tracked("k", "v", 60, index="i", keep=5, index_ttl=60)
    await store.aclose()


@pytest.mark.redis
async def test_link_through_a_redis_store(harness: Harness, redis_url: str) -> None:
    """The whole link with attempts in Redis (as several replicas would share them)."""
    store = RedisStore.from_url(redis_url)
    harness.use_store(store)
    try:
        assert (await harness.link()).status == "linked"
    finally:
        await store.aclose()


class CountingRedis(Redis):
    """A Redis client that remembers the name of each command it sends."""

    sent: list[str]

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]))
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        """The store sends the commands of one turn of its loop as one pipeline."""
        pipe = super().pipeline(transaction, shard_hint)
        queue = pipe.execute_command

        def counted(*args: Any, **options: Any) -> Any:
            self.sent.append(str(args[0]))
            return queue(*args, **options)

        pipe.execute_command = counted  # type: ignore[method-assign]
        return pipe


@pytest.mark.redis
async def test_a_link_flow_makes_eleven_redis_commands(
    tenant: FakeTenant, clock: FakeClock, redis_url: str
) -> None:
    """Everything the service keeps in Redis, for one complete flow once the Management API
    token is shared and Redis knows the scripts. Each command costs a replica about 0.1 ms of
    CPU in redis-py: one more shows here."""
    client = CountingRedis(connection_pool=ConnectionPool.from_url(redis_url))
    client.sent = []
    tenant.add_user("github|1002", email="alice@example.com", user_metadata={"x": 1})
    settings = make_settings(LINKER_STORE_URL=redis_url)
    async with running(tenant, clock, settings, store=RedisStore(client)) as harness:
        assert (await harness.link()).status == "linked"
        client.sent.clear()
        assert (await harness.link("github|1002")).status == "linked"
    assert tenant.calls["PATCH user"] == 2
    assert client.sent == [
        "SET",  # start: the start token's jti, once
        "EVALSHA",  # start: the transaction and its user's index
        "GETDEL",  # callback: the transaction, once
        "SET",  # callback: the verified attempt, kept while the account is shown
        "GETDEL",  # confirm: the verified attempt, once
        "SET",  # confirm (Link): the prepared attempt
        "EVALSHA",  # commit: the attempt claimed for its user, its outcome in progress
        "EVALSHA",  # commit: the merge owed, and listed in its group, before the link
        "SET",  # commit: the user's merge lock, for the fresh read and the PATCH
        "DEL",  # commit: the merge lock released
        "EVALSHA",  # commit: the outcome, and the merge no longer owed
    ]


@pytest.mark.redis
async def test_a_commit_for_another_user_through_redis_keeps_the_attempt(
    harness: Harness, redis_url: str
) -> None:
    store = RedisStore.from_url(redis_url)
    harness.use_store(store)
    try:
        resumed = read_resume(await harness.link_callback())
        refused = await harness.commit(resumed.commit, sub="google-oauth2|mallory")
        assert refused.status_code == 401
        assert refused.json()["error_description"] == "the commit token was issued for another user"
        assert (await harness.commit(resumed.commit)).json()["status"] == "linked"
        assert await store.scan("work:") == []
    finally:
        await store.aclose()


async def test_store_down_at_start_resumes_with_upstream_unavailable(harness: Harness) -> None:
    down = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    harness.use_store(down)
    try:
        resumed = read_resume(await harness.start())
    finally:
        await down.aclose()
    assert (resumed.status, resumed.error) == ("failed", "upstream_unavailable")


async def test_store_down_at_callback_is_a_503_page(harness: Harness) -> None:
    started = await harness.start()
    down = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    harness.use_store(down)
    try:
        response = await harness.callback(code="c", state=nested_state(started))
    finally:
        await down.aclose()
    assert response.status_code == 503
    assert "<code>upstream_unavailable</code>" in response.text


@pytest.mark.redis
async def test_a_burst_larger_than_the_redis_pool_waits_instead_of_failing(redis_url: str) -> None:
    """200 concurrent operations through 4 connections: each waits its turn (bounded), none is
    refused because the pool is momentarily exhausted."""
    store = RedisStore.from_url(redis_url, pool_size=4)
    try:
        done = await asyncio.gather(*[store.put(f"burst:{i}", "v", 60) for i in range(200)])
    finally:
        await store.aclose()
    assert all(done)


@pytest.mark.redis
async def test_commands_of_one_turn_go_as_one_pipeline_and_fail_alone(redis_url: str) -> None:
    """Concurrent operations share a pipeline; a command Redis refuses fails only its own
    operation, as a store error."""
    client = CountingRedis(connection_pool=ConnectionPool.from_url(redis_url))
    client.sent = []
    store = RedisStore(client)
    pipelines = 0
    make = client.pipeline

    def counted(transaction: bool = True, shard_hint: Any = None) -> Any:
        nonlocal pipelines
        pipelines += 1
        return make(transaction, shard_hint)

    client.pipeline = counted  # type: ignore[method-assign]
    try:
        await client.rpush("linker:a-list", "x")  # GET of a list: Redis refuses it
        results = await asyncio.gather(
            *[store.put(f"batch:{i}", "v", 60) for i in range(50)],
            store.get("a-list"),
            return_exceptions=True,
        )
        assert results[:50] == [True] * 50
        assert isinstance(results[50], StoreUnavailable)
        assert pipelines == 1
        assert [await store.get(f"batch:{i}") for i in range(3)] == ["v"] * 3
    finally:
        await store.aclose()
