"""`linker check` on the shared store: it runs a script, tells a cluster from one Redis, and
refuses an eviction policy that could drop pending attempts and merges; `/readyz` says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from linker.check import check_store
from linker.state.store import RedisStore
from linker.state.store_check import inspect_store
from linker.testing import FakeClock, free_port
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import make_settings, running
from tests.support.redis_cluster import Cluster, redis_cluster

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as running_cluster:
        yield running_cluster


async def test_a_cluster_is_reported_with_every_slot_served(cluster: Cluster) -> None:
    report = await inspect_store(make_settings(LINKER_STORE_URL=cluster.url))
    assert report.problems == []
    assert "note: store is a Redis Cluster: 3 primaries, 16384 of 16384 hash slots served" in (
        report.notes
    )


async def test_an_evicting_policy_on_one_primary_is_a_problem(cluster: Cluster) -> None:
    port = cluster.ports[1]
    cluster.cli(port, "config", "set", "maxmemory-policy", "volatile-lru")
    try:
        report = await inspect_store(make_settings(LINKER_STORE_URL=cluster.url))
    finally:
        cluster.cli(port, "config", "set", "maxmemory-policy", "noeviction")
    assert report.problems == [
        f"LINKER_STORE_URL: Redis 127.0.0.1:{port} has maxmemory-policy volatile-lru, which can "
        "evict pending attempts and merges; set noeviction"
    ]


async def test_allkeys_lru_on_one_redis_is_a_problem(redis_url: str) -> None:
    async with Redis.from_url(redis_url) as raw:
        await raw.config_set("maxmemory-policy", "allkeys-lru")
        try:
            report = await inspect_store(make_settings(LINKER_STORE_URL=redis_url))
        finally:
            await raw.config_set("maxmemory-policy", "noeviction")
    assert len(report.problems) == 1
    assert "maxmemory-policy allkeys-lru" in report.problems[0]
    assert "note: store is one Redis (not a cluster)" in report.notes


async def test_a_store_that_does_not_answer_is_a_problem(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    report = await inspect_store(make_settings(LINKER_STORE_URL=url))
    assert report.problems == ["LINKER_STORE_URL: the store cannot be used (ConnectionError)"]


@pytest.mark.slow  # the cluster client's own retries come first (about 5 s)
async def test_a_cluster_whose_first_node_does_not_answer_is_named() -> None:
    port = free_port()
    url = f"redis+cluster://127.0.0.1:{port}"
    assert await check_store(make_settings(LINKER_STORE_URL=url)) == [
        f"LINKER_STORE_URL: the store at {url} cannot be used: Redis at 127.0.0.1:{port}: "
        "nothing accepts connections there; linker serve would answer /readyz 503"
    ]


async def test_readyz_says_when_the_policy_can_evict(
    tenant: FakeTenant, clock: FakeClock, redis_url: str
) -> None:
    store = RedisStore.from_url(redis_url)
    async with (
        Redis.from_url(redis_url) as raw,
        running(tenant, clock, make_settings(), store=store) as harness,
    ):
        body = (await harness.client.get("/readyz")).json()
        assert "store_unsafe" not in body
        store._policy_due = 0.0  # read again now, not in a minute
        await raw.config_set("maxmemory-policy", "volatile-ttl")
        try:
            answer = await harness.client.get("/readyz")
        finally:
            await raw.config_set("maxmemory-policy", "noeviction")
    assert answer.status_code == 200
    assert answer.json()["store_unsafe"] == (
        "maxmemory-policy can evict pending attempts and merges: redis volatile-ttl; set noeviction"
    )
