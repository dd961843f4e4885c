"""The service with its events sent to an `EventSink`, for the delivery tests."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from linker.state.keys import ALL_EVENT_INDEXES, ALL_PARKED_INDEXES
from linker.state.store import Store
from linker.steps.delivery import Report
from linker.testing import FakeClock
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import Harness, make_settings, running

EVENTS_SECRET = "whsec_" + base64.b64encode(b"e" * 32).decode()


@asynccontextmanager
async def sending_to(
    url: str,
    tenant: FakeTenant,
    clock: FakeClock,
    *,
    store: Store | None = None,
    schedule: str = "5s,5m",
    **env: str,
) -> AsyncIterator[Harness]:
    """The service, its events sent to `url` (on `store` when given: replicas share one),
    with the other settings `env` names."""
    settings = make_settings(
        LINKER_EVENTS_URL=url,
        LINKER_EVENTS_SECRET=EVENTS_SECRET,
        LINKER_EVENTS_SCHEDULE=schedule,
        **env,
    )
    async with running(tenant, clock, settings, store=store) as harness:
        yield harness


async def deliver(harness: Harness) -> Report:
    """One delivery pass, in-process (the app's own loop runs too: a lease keeps them apart)."""
    report: Report = await harness.app.state.deliver_events()
    return report


async def until(harness: Harness, done: Callable[[], bool], *, seconds: float = 5.0) -> None:
    """Delivery passes until `done()`; fails after `seconds`."""
    for _ in range(int(seconds / 0.02)):
        if done():
            return
        await deliver(harness)
        await asyncio.sleep(0.02)
    raise AssertionError("not delivered in time")


async def outbox(harness: Harness) -> list[str]:
    """The keys of the events pending in the store."""
    return await harness.runtime.attempts.store.listed(ALL_EVENT_INDEXES, limit=1000)


async def parked(harness: Harness) -> list[str]:
    return await harness.runtime.attempts.store.listed(ALL_PARKED_INDEXES, limit=1000)
