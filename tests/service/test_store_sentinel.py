"""The store behind Redis Sentinel (a primary, its replica and a Sentinel on loopback): linker
reaches the primary the Sentinel names, follows it when it fails over, and a link whose
callback and commit fall on either side of the failover links."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from linker.check import check_store
from linker.settings import Settings, SettingsError
from linker.state.store import RedisStore, StoreUnavailable, sentinel_target
from linker.state.store_check import inspect_store
from tests.support.harness import (
    PRIMARY,
    SECONDARY,
    Harness,
    make_settings,
    read_resume,
    settings_env,
)
from tests.support.redis_server import SentinelSet, redis_sentinel

pytestmark = pytest.mark.redis


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    with redis_sentinel(tmp_path) as found:
        yield found


@pytest.fixture
async def store(sentinels: SentinelSet) -> AsyncIterator[RedisStore]:
    opened = RedisStore.from_url(sentinels.url)
    yield opened
    await opened.aclose()


async def replicated(port: int) -> None:
    """Until the primary on `port` has its writes so far on its replica (as a failover
    that loses nothing acknowledged needs)."""
    async with Redis(port=port) as raw:
        assert await raw.wait(1, 5000) == 1


async def role(port: int) -> str:
    async with Redis(port=port) as raw:
        return str((await raw.info("replication"))["role"])


async def failed_over(sentinels: SentinelSet, before: int, *, asked: bool = False) -> int:
    """Ask the Sentinel to fail the primary over (unless `asked` already); the new primary's
    port once it takes writes and the old one has become its replica. Until then the old one
    still takes writes, which its demotion discards: Sentinel's replication is asynchronous
    (docs/operations.md)."""
    if not asked:
        sentinels.sentinel("sentinel", "failover", sentinels.name)
    deadline = time.monotonic() + 15
    while (port := sentinels.primary_port()) == before:
        assert time.monotonic() < deadline, "the Sentinel did not fail the primary over"
        await asyncio.sleep(0.1)
    while await role(port) != "master" or await role(before) != "slave":
        assert time.monotonic() < deadline, "the primaries did not change places"
        await asyncio.sleep(0.1)
    return port


async def test_the_store_is_the_primary_the_sentinel_names(
    sentinels: SentinelSet, store: RedisStore
) -> None:
    await store.put("k", "v", 60)
    async with Redis(port=sentinels.primary_port()) as raw:
        assert await raw.get("linker:k") == b"v"
    assert await store.take("k") == "v"
    assert (store.sentinel, store.follows_failover, store.clustered) == ("linker", True, False)


@pytest.mark.slow
async def test_a_failover_is_followed_and_what_was_replicated_is_kept(
    sentinels: SentinelSet, store: RedisStore
) -> None:
    before = sentinels.primary_port()
    await store.put("before", "1", 60)
    await replicated(before)
    sentinels.sentinel("sentinel", "failover", sentinels.name)
    # Every write while the primary moves is retried until one takes it: none raises.
    for n in range(20):
        await store.put(f"during:{n}", "1", 60)
        await asyncio.sleep(0.1)
    after = await failed_over(sentinels, before, asked=True)
    await store.put("after", "1", 60)  # on a connection to the old primary: followed
    async with Redis(port=after) as raw:
        assert await raw.get("linker:before") == b"1"
        assert await raw.get("linker:after") == b"1"
    assert await store.get("before") == "1"


@pytest.mark.slow
async def test_a_link_whose_commit_comes_after_a_failover_links(
    harness: Harness, sentinels: SentinelSet, store: RedisStore
) -> None:
    harness.use_store(store)
    primary_port = sentinels.primary_port()
    resumed = read_resume(await harness.link_callback(SECONDARY))
    assert resumed.status == "pending", resumed.result
    await replicated(primary_port)  # the prepared attempt is on the replica too
    await failed_over(sentinels, primary_port)
    answer = (await harness.commit(resumed.commit)).json()
    assert answer["status"] == "linked"
    linked = {
        f"{i['provider']}|{i['user_id']}" for i in harness.tenant.users[PRIMARY]["identities"]
    }
    assert SECONDARY in linked


async def test_linker_check_names_the_sentinels_primary(sentinels: SentinelSet) -> None:
    report = await inspect_store(make_settings(LINKER_STORE_URL=sentinels.url))
    assert report.problems == []
    assert (
        "note: store is the Redis primary the Sentinels name 'linker', followed when they fail "
        "it over"
    ) in report.notes


def test_a_sentinel_url_names_its_sentinels_primary_and_database() -> None:
    assert sentinel_target("rediss+sentinel://linker:p%40ss@10.0.0.1:26379,[::1]:26380/main/2") == (
        [("10.0.0.1", 26379), ("::1", 26380)],
        "main",
        2,
        "linker",
        "p@ss",
    )


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://h:26379",
        "redis+sentinel://h:26379/",
        "redis+sentinel://u:secret@h:26379/main/x",
        "redis+sentinel://u:secret@h/main",
    ],
)
def test_a_bad_sentinel_url_is_refused_without_quoting_it(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(settings_env(LINKER_STORE_URL=url))
    assert caught.value.name == "LINKER_STORE_URL"
    assert "secret" not in str(caught.value)


@pytest.mark.slow  # an untrusted Sentinel is retried as a failover would be (6 s)
async def test_over_tls_the_sentinel_and_the_primary_are_both_verified(tmp_path: Path) -> None:
    with redis_sentinel(tmp_path, tls=True) as secure:
        assert secure.url.startswith("rediss+sentinel://") and secure.ca is not None
        store = RedisStore.from_url(secure.url, ca_file=str(secure.ca))
        try:
            await store.put("k", "v", 60)
            assert await store.take("k") == "v"
        finally:
            await store.aclose()
        # Without the CA, the system's store does not know the certificates: refused, and
        # `linker check` says why (redis-py's Sentinel client says only "no primary found").
        untrusted = RedisStore.from_url(secure.url)
        try:
            with pytest.raises(StoreUnavailable):
                await untrusted.put("k", "v", 60)
        finally:
            await untrusted.aclose()
        problems = await check_store(make_settings(LINKER_STORE_URL=secure.url))
        assert problems == [
            f"LINKER_STORE_URL: the store at {secure.url} cannot be used: Sentinel at "
            f"127.0.0.1:{secure.sentinel_port}: its TLS certificate is not trusted (self-signed "
            "certificate in certificate chain); LINKER_REDIS_CA_FILE names the CA that signs it; "
            "linker serve would answer /readyz 503"
        ]


@pytest.mark.slow  # a primary not found is retried as a failover would be (6 s)
async def test_linker_check_names_a_primary_the_sentinels_do_not_know(
    sentinels: SentinelSet,
) -> None:
    url = sentinels.url.replace(f"/{sentinels.name}", "/elsewhere")
    problems = await check_store(make_settings(LINKER_STORE_URL=url))
    assert problems == [
        f"LINKER_STORE_URL: the store at {url} cannot be used: the Sentinel at "
        f"127.0.0.1:{sentinels.sentinel_port} knows no primary named 'elsewhere'; linker serve "
        "would answer /readyz 503"
    ]
