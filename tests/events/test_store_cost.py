"""Events cost a link flow no store command: the event is written by the commit's last step.

Each store operation is one Redis command (`linker.state.store`), so the operations a flow makes,
counted, are its Redis commands. The delivery loop's own (reading the events' indexes,
leasing, deleting) are counted apart: they are not on the login path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, cast

from linker.state.store import MemoryStore, Store
from linker.testing import FakeClock
from linker.testing.events import EventSink
from tests.events.support import EVENTS_SECRET, outbox, sending_to, until
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import PRIMARY, SECONDARY, make_settings, running


class Counting:
    """A memory store that counts its operations, the delivery loop's apart."""

    def __init__(self, clock: FakeClock) -> None:
        self.store = MemoryStore(clock=clock)
        self.flow: Counter[str] = Counter()
        self.delivery: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            first = args[0] if args else ""
            keys = first if isinstance(first, Sequence) and not isinstance(first, str) else [first]
            names = [getattr(k, "key", k) for k in keys]
            ours = any(str(k).startswith(("event", "lease:event")) for k in names)
            if name in ("record",) and not all(str(k).startswith("event") for k in names):
                ours = False  # the commit's step (its outcome and its event), not the loop's
            (self.delivery if ours else self.flow)[name] += 1
            return await method(*args, **kwargs)

        return counted


async def commands_per_link(tenant: FakeTenant, clock: FakeClock, *, events: bool) -> Counting:
    counting = Counting(clock)
    store = cast(Store, counting)
    if events:
        with EventSink(EVENTS_SECRET) as sink:
            async with sending_to(sink.url, tenant, clock, store=store) as harness:
                assert (await harness.link()).status == "linked"
                await until(harness, lambda: len(sink.events) == 1)
    else:
        async with running(tenant, clock, make_settings(), store=store) as harness:
            assert (await harness.link()).status == "linked"
            assert await outbox(harness) == []  # nothing would send it: nothing kept
    return counting


async def test_a_link_costs_the_same_store_commands_with_events(
    tenant: FakeTenant, clock: FakeClock, rsa_key: Any
) -> None:
    without = await commands_per_link(tenant, clock, events=False)
    fresh = FakeTenant(key=rsa_key, clock=clock)  # the same two users, not linked yet
    fresh.add_user(PRIMARY, email="alice@example.com", user_metadata={"theme": "dark"})
    fresh.add_user(
        SECONDARY,
        email="alice@example.com",
        user_metadata={"theme": "light", "github": {"handle": "alice"}},
    )
    with_events = await commands_per_link(fresh, clock, events=True)
    print(
        f"\nstore commands per link flow: {sum(without.flow.values())} without events, "
        f"{sum(with_events.flow.values())} with events (+ delivery {dict(with_events.delivery)})"
    )
    # The same operations, but that the commit's last is `record` (outcome, event, work item
    # dropped) where it is `replace` (outcome, work item dropped) without events.
    assert without.flow["replace"] == 1 and with_events.flow["record"] == 1
    assert with_events.flow - Counter(record=1) == without.flow - Counter(replace=1)
    assert with_events.delivery["record"] == 0  # nothing parked: the loop only sends
    assert with_events.delivery["delete"] >= 1  # the delivered event left the outbox
