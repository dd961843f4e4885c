"""One Management API token per deployment: replicas share it through the store, encrypted,
and one of them refreshes it; without the store's help each still gets a token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from urllib.parse import parse_qs

import httpx
import pytest
from redis.asyncio import Redis

from linker.app import create_app
from linker.state.store import MemoryStore, RedisStore, Store
from linker.tenant import token_share
from linker.tenant.oauth import Tenant
from linker.tenant.token_share import CachedToken, TokenShare
from linker.tenant.upstream import Retrier
from linker.testing import FakeClock, free_port
from tests.support.fake_tenant import LINKER_CLIENT, FakeTenant
from tests.support.harness import Harness, make_settings
from tests.support.httpx_upstream import HttpxUpstream


class CountingTenant:
    """The fake tenant, answering client-credentials grants slowly and counting them."""

    def __init__(self, tenant: FakeTenant, delay: float = 0.1) -> None:
        self.tenant = tenant
        self.delay = delay
        self.grants: list[str] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode()) if request.url.path == "/oauth/token" else {}
        if form.get("grant_type") == ["client_credentials"]:
            await asyncio.sleep(self.delay)  # long enough for the other replica to ask too
            response = self.tenant.handle(request)
            self.grants.append(response.json()["access_token"])
            return response
        return self.tenant.handle(request)


@pytest.fixture
async def replicas(
    tenant: FakeTenant, clock: FakeClock, redis_url: str
) -> AsyncIterator[tuple[CountingTenant, Callable[[], asyncio.Future[Harness]]]]:
    """Starts replicas of one deployment: each its own app, upstream client and Redis client,
    over one Redis and one tenant."""
    counting = CountingTenant(tenant)
    async with Redis.from_url(redis_url) as raw:
        await raw.flushdb()
    async with AsyncExitStack() as stack:

        async def replica() -> Harness:
            settings = make_settings(LINKER_STORE_URL=redis_url)
            upstream = httpx.AsyncClient(transport=httpx.MockTransport(counting.handle))
            stack.push_async_callback(upstream.aclose)
            app = create_app(
                settings,
                http=HttpxUpstream(upstream),
                clock=clock,
                retrier=Retrier(clock=clock, sleep=clock.sleep),
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
            client = httpx.AsyncClient(transport=transport, base_url=settings.public_url)
            await stack.enter_async_context(client)
            return Harness(tenant=tenant, clock=clock, client=client, settings=settings, app=app)

        yield counting, lambda: asyncio.ensure_future(replica())


@pytest.mark.redis
async def test_two_replicas_linking_at_once_fetch_one_management_token(
    replicas: tuple[CountingTenant, Callable[[], asyncio.Future[Harness]]],
    redis_url: str,
) -> None:
    counting, replica = replicas
    first, second = await replica(), await replica()
    first.tenant.add_user("github|2002", email="alice@example.com")

    links = await asyncio.gather(first.link("github|1001"), second.link("github|2002"))

    assert [link.status for link in links] == ["linked", "linked"]
    assert len(counting.grants) == 1
    # A replica that starts later finds the token in the store too.
    third = await replica()
    first.tenant.add_user("github|3003", email="alice@example.com")
    assert (await third.link("github|3003")).status == "linked"
    assert len(counting.grants) == 1
    # And the store holds it sealed: a dump of Redis does not show the token.
    async with Redis.from_url(redis_url) as raw:
        sealed = await raw.get(f"linker:m2m:{LINKER_CLIENT}")
    text = sealed.decode() if isinstance(sealed, bytes) else str(sealed)
    assert counting.grants[0] not in text
    assert text.count(".") == 4  # a compact JWE


async def test_a_lock_left_by_a_replica_that_died_delays_but_does_not_fail(
    tenant: FakeTenant, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(token_share, "WAIT_SECONDS", 0.2)
    store = MemoryStore(clock=clock)
    await store.put(f"m2m-lock:{LINKER_CLIENT}", "a replica that died", 10, only_new=True)
    counting = CountingTenant(tenant, delay=0)
    async with replica_tenant(counting, clock, store) as replica:
        token = await replica.management_token(replica.budget())
    assert counting.grants == [token]


async def test_without_the_store_each_process_still_gets_its_token(
    tenant: FakeTenant, clock: FakeClock
) -> None:
    down = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    counting = CountingTenant(tenant, delay=0)
    try:
        async with replica_tenant(counting, clock, down) as replica:
            token = await replica.management_token(replica.budget())
            assert await replica.management_token(replica.budget()) == token
    finally:
        await down.aclose()
    assert counting.grants == [token]


async def test_a_token_sealed_with_another_client_secret_is_replaced(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock)
    old = TokenShare(store, client_id="c", client_secret="old secret", clock=clock)
    new = TokenShare(store, client_id="c", client_secret="new secret", clock=clock)
    await old.publish(CachedToken("mgmt-old", clock() + 600))
    assert await new.read() is None
    await new.publish(CachedToken("mgmt-new", clock() + 600))
    assert await new.read() == CachedToken("mgmt-new", clock() + 600)


async def test_a_refused_token_leaves_the_store_and_a_due_one_is_not_read(clock: FakeClock) -> None:
    store = MemoryStore(clock=clock)
    share = TokenShare(store, client_id="c", client_secret="secret", clock=clock)
    await share.publish(CachedToken("mgmt-1", clock() + 600))
    await share.forget("mgmt-other")  # another replica's refused token: not this one
    assert await share.read() is not None
    await share.forget("mgmt-1")
    assert await share.read() is None
    await share.publish(CachedToken("mgmt-2", clock() + 600))
    clock.now += 600
    assert await share.read() is None


@asynccontextmanager
async def replica_tenant(
    counting: CountingTenant, clock: FakeClock, store: Store
) -> AsyncIterator[Tenant]:
    """One replica's tenant client alone, over `store`."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(counting.handle)) as http:
        retrier = Retrier(clock=clock, sleep=clock.sleep)
        yield Tenant(make_settings(), HttpxUpstream(http), retrier, clock=clock, store=store)
