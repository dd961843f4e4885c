"""Delivering the outbox's events to `LINKER_EVENTS_URL`, at least once, in order per user.

The commit records an event in the store step that records its outcome (`linker.state.attempts`);
this module sends them. Every replica runs `run_in_background`, woken as soon as its own
commit records an event, and otherwise every `INTERVAL` seconds. A pass reads the events'
indexes (one per work group: a user's events are all in one, in the order the store recorded
them) and, for each event:

- a user's later event waits while an earlier one is still pending (delivered or parked lets
  it go);
- a lease in the store (`LEASE_SECONDS`) makes one replica at a time send it; a replica
  killed mid-delivery leaves the lease to lapse, and another sends the event again;
- a 2xx answer deletes it; any other outcome counts a failure and waits the schedule's next
  wait (`linker.core.events.next_wait`), and after the last one the event is *parked*: moved
  to its group's index of parked events, kept, counted, listed by `linker events`, and sent
  again only when an operator replays it.

The login path never waits for any of this: the loop is a task of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from dataclasses import dataclass, field, replace

from linker.core import events
from linker.core.events import Pending, next_wait
from linker.ops.observability import log_event, redact_url
from linker.ops.webhooks import WebhookSender, event_sender
from linker.runtime import Runtime
from linker.settings import Settings
from linker.state.attempts import EVENT_TTL
from linker.state.keys import (
    ALL_EVENT_INDEXES,
    ALL_PARKED_INDEXES,
    event_index,
    parked_index,
)
from linker.state.store import StoreUnavailable, Write

# Only one replica sends an event at a time; the lease outlives a send's timeout.
LEASE_SECONDS = 30.0
# A pass reads at most this many events of each group (the rest wait for the next pass).
PASS_LIMIT = 100
# The loop's period when no commit of this process wakes it.
INTERVAL = 5.0
EVENT_PREFIX = "event:"

logger = logging.getLogger("linker.events")


@dataclass
class Report:
    """What one pass did."""

    delivered: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    parked: list[str] = field(default_factory=list)
    waiting: int = 0  # pending events not sent in this pass (not due, leased, or behind one)
    oldest_age: float = 0.0  # seconds since the oldest pending event was recorded


def lease_key(key: str) -> str:
    return "lease:" + key


async def deliver(
    rt: Runtime, sender: WebhookSender, *, rng: random.Random | None = None
) -> Report:
    """One pass over the pending events (at most `PASS_LIMIT` per group)."""
    rng = rng or random.SystemRandom()
    store = rt.attempts.store
    report = Report()
    behind: set[str] = set()  # users with an earlier event still pending
    for key in await store.listed(ALL_EVENT_INDEXES, limit=PASS_LIMIT):
        raw = await store.get(key)
        if raw is None:  # delivered or discarded: its listing goes
            await store.delete(key, index=event_index(key))
            continue
        try:
            pending = Pending.loads(raw)
        except (ValueError, KeyError, TypeError):  # a later release's: left for it
            report.waiting += 1
            continue
        user = pending.event.user_id
        now = rt.clock()
        report.oldest_age = max(report.oldest_age, now - pending.event.time)
        if user in behind or pending.next_at > now:
            behind.add(user)
            report.waiting += 1
            continue
        behind.add(user)
        if not await _send_leased(rt, sender, key, rng, report):
            report.waiting += 1
            continue
        if key in report.delivered or key in report.parked:
            behind.discard(user)  # the next one of this user may go now
    _measure(rt, report)
    return report


async def _send_leased(
    rt: Runtime, sender: WebhookSender, key: str, rng: random.Random, report: Report
) -> bool:
    """Send the event at `key` under a lease; False when another replica holds it."""
    store = rt.attempts.store
    mine = secrets.token_hex(8)
    if not await store.put(lease_key(key), mine, LEASE_SECONDS, only_new=True):
        return False
    try:
        raw = await store.get(key)  # again, under the lease: another may have sent it
        if raw is None:
            report.delivered.append(key)  # by another replica: the user's next may go
            return True
        pending = Pending.loads(raw)
        if pending.parked:  # parked by another replica meanwhile
            report.parked.append(key)
            return True
        if pending.next_at > rt.clock():  # failed by another replica meanwhile: not due
            return False
        # Timed by the wall clock: the receiver checks `webhook-timestamp` against its own.
        attempt = await sender.send(pending.event, now=time.time())
        if attempt.delivered:
            await store.delete(key, index=event_index(key))
            report.delivered.append(key)
            rt.metrics.count("linker_events_delivered_total", type=pending.event.type)
            log_event("event_delivered", event_id=pending.event.id, type=pending.event.type)
            return True
        await _failed(rt, key, pending, attempt.reason, rng, report)
        return True
    finally:
        with contextlib.suppress(StoreUnavailable):
            if await store.get(lease_key(key)) == mine:
                await store.delete(lease_key(key))


async def _failed(
    rt: Runtime, key: str, pending: Pending, reason: str, rng: random.Random, report: Report
) -> None:
    store = rt.attempts.store
    failures = pending.failures + 1
    wait = next_wait(failures, rt.settings.events_schedule, rng)
    fields = {"event_id": pending.event.id, "type": pending.event.type, "reason": reason}
    if wait is None:
        parked = replace(pending, failures=failures, reason=reason, parked=True)
        await store.record(
            [Write(key, parked.dumps(), EVENT_TTL, index=parked_index(key))],
            unlist=(event_index(key), key),
        )
        report.parked.append(key)  # counted by the gauge `linker_events_parked`
        log_event("event_parked", failures=failures, **fields)
        return
    later = replace(pending, failures=failures, next_at=rt.clock() + wait, reason=reason)
    await store.put(key, later.dumps(), EVENT_TTL)
    report.retried.append(key)
    rt.metrics.count("linker_events_retried_total")
    log_event("event_retry", failures=failures, wait=round(wait, 1), **fields)


def _measure(rt: Runtime, report: Report) -> None:
    pending = report.waiting + len(report.retried)
    rt.metrics.gauge("linker_events_pending", pending)
    rt.metrics.gauge("linker_events_oldest_pending_seconds", report.oldest_age if pending else 0)


async def parked_count(rt: Runtime) -> int:
    """How many events are parked (as listed: one discarded meanwhile may still count)."""
    return len(await rt.attempts.store.listed(ALL_PARKED_INDEXES, limit=10_000))


async def run_in_background(
    rt: Runtime, sender: WebhookSender, *, interval: float = INTERVAL
) -> None:
    """Deliver until cancelled: whenever this process records an event, and every `interval`
    seconds; an outage of the store or of the endpoint only delays events."""
    passes = 0
    while True:
        # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` swallows a cancellation
        # that arrives as the event is set, and shutdown would wait for this loop forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await rt.events_recorded.wait()
        rt.events_recorded.clear()
        try:
            report = await deliver(rt, sender)
            if passes % 12 == 0 or report.parked:  # about once a minute when idle
                rt.metrics.gauge("linker_events_parked", await parked_count(rt))
        except StoreUnavailable:
            logger.warning("events: the store is unavailable; retrying later")
        except Exception as exc:  # the loop outlives any one pass: events are only delayed
            logger.error("events: a delivery pass failed (%s); retrying later", type(exc).__name__)
        passes += 1


async def ping(settings: Settings, *, now: float) -> tuple[bool, str]:
    """Send a signed `ping` to `LINKER_EVENTS_URL` (for `linker check`): whether the endpoint
    took it, and one line that says how it answered."""
    sender = event_sender(settings)
    assert settings.events_url is not None and sender is not None
    try:
        event = events.ping(audit_id="check-" + secrets.token_hex(8), time=now)
        attempt = await sender.send(event, now=now)
    finally:
        await sender.aclose()
    where = redact_url(settings.events_url)
    if sender.route.proxy is not None:
        where += f", {sender.route.describe()}"
    if attempt.delivered:
        return True, f"events: a signed ping to {where} was accepted ({attempt.reason})"
    return False, (
        f"LINKER_EVENTS_URL: a signed ping to {where} was not accepted ({attempt.reason}); "
        "events wait in the store until it is"
    )
