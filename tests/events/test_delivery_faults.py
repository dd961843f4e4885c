"""The bad days of delivery: a replica killed mid-delivery, two replicas delivering at once,
Redis restarted with its data kept. Every event is delivered, in order per user."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from linker.client.events import EventReceiver, IdentityLinked, IdentityUnlinked, LinkerEvent
from linker.state.store import MemoryStore, RedisStore, Store, StoreUnavailable
from linker.steps.delivery import LEASE_SECONDS
from linker.testing import FakeClock, ServerThread
from linker.testing.events import EventSink
from tests.events.support import EVENTS_SECRET, deliver, outbox, sending_to, until
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import PRIMARY, SECONDARY, Harness, nested_state
from tests.support.redis_server import redis_server


class SharedMemory(MemoryStore):
    """One memory store for several apps in one process, as replicas share Redis: an app that
    stops does not clear it."""

    async def aclose(self) -> None:
        pass


class Replica:
    """One replica's way to the shared store; `killed`, it reaches nothing any more (a process
    that died leaves its leases as they were)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.killed = False

    def __getattr__(self, name: str) -> Any:
        if name == "aclose":
            return self.store.aclose
        if self.killed:

            async def gone(*args: Any, **kwargs: Any) -> Any:
                raise StoreUnavailable("killed")

            return gone
        return getattr(self.store, name)


@pytest.fixture
def sink() -> Iterator[EventSink]:
    with EventSink(EVENTS_SECRET) as receiving:
        yield receiving


async def link_then_unlink(harness: Harness) -> None:
    """Alice links GitHub, then unlinks it: two events of one user, in that order."""
    assert (await harness.link()).status == "linked"
    user: dict[str, Any] = harness.start_claims()["user"]
    user["identities"] = [dict(i) for i in harness.tenant.users[PRIMARY]["identities"]]
    started = await harness.start(action="unlink", user=user)
    assert started.status_code == 302, started.text
    code = harness.tenant.login(started.headers["location"], sub=PRIMARY)
    unlinked = await harness.finish(await harness.callback(code=code, state=nested_state(started)))
    assert unlinked.status == "unlinked"


def kinds(events: list[LinkerEvent]) -> list[type]:
    return [type(event) for event in events]


async def test_a_replica_killed_mid_delivery_leaves_the_event_to_another(
    tenant: FakeTenant, clock: FakeClock
) -> None:
    store = SharedMemory(clock=clock)
    arrived = threading.Event()
    release = threading.Event()
    received: list[LinkerEvent] = []
    receiver = EventReceiver(EVENTS_SECRET)

    async def receive(request: Request) -> PlainTextResponse:
        event = receiver.verify(await request.body(), dict(request.headers))
        if not arrived.is_set():  # the first delivery hangs: its replica dies meanwhile
            arrived.set()
            await asyncio.to_thread(release.wait, 10)
            return PlainTextResponse("too late", status_code=503)
        received.append(event)
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/events", receive, methods=["POST"])])
    with ServerThread(app) as server:
        url = server.url + "/events"
        replica = Replica(store)
        async with sending_to(url, tenant, clock, store=cast(Store, replica)) as first:
            assert (await first.link()).status == "linked"
            sending = asyncio.create_task(deliver(first))
            await asyncio.to_thread(arrived.wait, 5)
            assert arrived.is_set()
            replica.killed = True  # its lease is never given back
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)
        release.set()
        async with sending_to(url, tenant, clock, store=store) as second:
            await deliver(second)
            assert received == [] and len(await outbox(second)) == 1  # the lease still holds
            clock.advance(LEASE_SECONDS + 1)
            await until(second, lambda: len(received) == 1)
            assert isinstance(received[0], IdentityLinked)
            assert received[0].former_user_id == SECONDARY
            assert await outbox(second) == []


async def test_two_replicas_deliver_each_event_once_in_order(
    sink: EventSink, tenant: FakeTenant, clock: FakeClock
) -> None:
    store = SharedMemory(clock=clock)
    sink.down = True
    async with (
        sending_to(sink.url, tenant, clock, store=store) as one,
        sending_to(sink.url, tenant, clock, store=store) as two,
    ):
        await link_then_unlink(one)
        await until(one, lambda: sink.refused >= 1)
        sink.down = False
        clock.advance(6)
        for _ in range(100):
            await asyncio.gather(deliver(one), deliver(two))
            if len(sink.events) == 2:
                break
            await asyncio.sleep(0.02)
        assert kinds(sink.events) == [IdentityLinked, IdentityUnlinked]  # the user's order
        # No lease lapsed: each was sent once, and the unlink only after the link arrived.
        assert kinds(sink.received) == [IdentityLinked, IdentityUnlinked]
        assert await outbox(one) == []


async def test_events_survive_a_redis_restart(
    sink: EventSink, tenant: FakeTenant, clock: FakeClock, tmp_path: Path
) -> None:
    persist = ("--appendonly", "yes", "--appendfsync", "always")
    sink.down = True
    with redis_server(tmp_path, *persist) as url:
        store = RedisStore.from_url(url)
        async with sending_to(sink.url, tenant, clock, store=store) as harness:
            await link_then_unlink(harness)
            assert len(await outbox(harness)) == 2
            port = int(url.rsplit(":", 1)[1].split("/")[0])
    # The same server again, on its port, from its data directory.
    with redis_server(tmp_path, *persist, port=port) as again:
        assert again == url
        sink.down = False
        clock.advance(6)  # past the first wait, if a delivery was refused before the restart
        store = RedisStore.from_url(url)
        async with sending_to(sink.url, tenant, clock, store=store) as harness:
            # A lease the first process held as it stopped lapses on Redis's own clock, as
            # a killed replica's does: the events go out within its life at the latest.
            await until(harness, lambda: len(sink.events) == 2, seconds=LEASE_SECONDS + 10)
            assert kinds(sink.events) == [IdentityLinked, IdentityUnlinked]
            assert await outbox(harness) == []
