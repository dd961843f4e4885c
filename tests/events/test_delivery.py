"""Every link, unlink and merge reaches the application as a signed event, through the public
routes (the tenant faked in-process, the receiver a real HTTP server on loopback); and no event
exists for a write that did not happen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from linker.client.events import IdentityLinked, IdentityUnlinked, UserMerged
from linker.state.keys import ALL_WORK_INDEXES, WORK_INDEXES
from linker.steps.reconcile import SETTLE_AFTER
from linker.testing import FakeClock, ServerThread
from linker.testing.events import EventSink
from tests.events.support import EVENTS_SECRET, deliver, outbox, sending_to, until
from tests.service.test_reconcile import link_then_lose, write_then_lose
from tests.service.test_suggest_routes import CURRENT, OLDER, commit_as_current, prepared
from tests.service.test_unlink import unlink
from tests.support.fake_tenant import FakeTenant, status
from tests.support.harness import PRIMARY, SECONDARY, Harness


@pytest.fixture
def sink() -> Iterator[EventSink]:
    with EventSink(EVENTS_SECRET) as receiving:
        yield receiving


@pytest.fixture
async def harness(sink: EventSink, tenant: FakeTenant, clock: FakeClock) -> AsyncIterator[Harness]:
    async with sending_to(sink.url, tenant, clock) as service:
        yield service


async def test_a_link_is_delivered_and_verifies_with_the_reference_library(
    tenant: FakeTenant, clock: FakeClock
) -> None:
    got: list[tuple[bytes, dict[str, str]]] = []

    async def receive(request: Request) -> PlainTextResponse:
        got.append((await request.body(), dict(request.headers)))
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/events", receive, methods=["POST"])])
    with ServerThread(app) as server:
        async with sending_to(server.url + "/events", tenant, clock) as harness:
            linked = await harness.link()
            assert linked.status == "linked"
            await until(harness, lambda: bool(got))
    body, headers = got[0]
    # Verified by the Standard Webhooks library alone, none of linker's code.
    payload = Webhook(EVENTS_SECRET).verify(body, headers)
    assert payload["type"] == "identity.linked"
    assert payload["id"] == headers["webhook-id"]
    assert payload["data"]["primary_user_id"] == PRIMARY
    assert payload["data"]["former_user_id"] == SECONDARY
    assert payload["data"]["connection"] == "github"
    assert "user_metadata" not in body.decode() and "theme" not in body.decode()
    # The commit id names a prepared attempt: never sent, only a digest of it (`audit_id`).
    commit = linked.resumed.commit
    assert commit not in body.decode() and commit not in str(headers)
    assert payload["data"]["audit_id"].startswith("aud_")
    with pytest.raises(Exception, match="signature"):
        Webhook(EVENTS_SECRET).verify(body + b" ", headers)


async def test_a_link_reaches_the_sink_with_its_audit_id(
    harness: Harness, sink: EventSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="linker.audit")
    linked = await harness.link()
    assert linked.status == "linked"
    await until(harness, lambda: len(sink.events) == 1)
    event = sink.events[0]
    assert isinstance(event, IdentityLinked)
    assert (event.primary_user_id, event.former_user_id) == (PRIMARY, SECONDARY)
    assert (event.provider, event.provider_user_id) == ("github", "1001")
    audit = [r.getMessage() for r in caplog.records if r.name == "linker.audit"]
    assert event.audit_id in audit[-1]
    assert await outbox(harness) == []  # delivered: gone from the outbox


async def test_an_unlink_reaches_the_sink(harness: Harness, sink: EventSink) -> None:
    assert (await unlink(harness)).status == "unlinked"
    await until(harness, lambda: len(sink.events) == 1)
    event = sink.events[0]
    assert isinstance(event, IdentityUnlinked)
    assert (event.primary_user_id, event.user_id, event.connection) == (
        PRIMARY,
        "github|1001",
        "github",
    )


async def test_a_suggested_merge_reaches_the_sink(harness: Harness, sink: EventSink) -> None:
    older = harness.tenant.add_user(
        OLDER, email="grace@example.com", connection="Username-Password-Authentication"
    )
    older["created_at"] = "2024-01-01T00:01:00.000Z"
    current = harness.tenant.add_user(CURRENT, email="Grace@Example.com")
    current["created_at"] = "2024-01-01T00:10:00.000Z"
    commit = await prepared(harness)
    result = await commit_as_current(harness, commit)
    assert result["status"] == "linked", result
    await until(harness, lambda: len(sink.events) == 1)
    event = sink.events[0]
    assert isinstance(event, UserMerged)
    assert (event.primary_user_id, event.former_user_id) == (OLDER, CURRENT)


async def test_a_receiver_down_for_a_while_gets_the_event_once_back(
    harness: Harness, sink: EventSink
) -> None:
    sink.down = True
    assert (await harness.link()).status == "linked"
    await until(harness, lambda: sink.refused >= 1)
    assert sink.events == [] and len(await outbox(harness)) == 1
    report = await deliver(harness)  # not due yet: the schedule's first wait is 5 s
    assert report.delivered == [] and sink.refused == 1
    sink.down = False
    harness.clock.advance(6)
    await until(harness, lambda: len(sink.events) == 1)
    assert isinstance(sink.events[0], IdentityLinked)
    assert await outbox(harness) == []


async def test_a_denied_flow_has_no_event(harness: Harness, sink: EventSink) -> None:
    harness.tenant.add_user("google-oauth2|mallory", email="m@example.com")
    resumed = await unlink(harness, "google-oauth2|mallory")
    assert resumed.status == "denied"
    assert await outbox(harness) == []
    await deliver(harness)
    assert sink.received == [] and sink.refused == 0


async def test_a_failed_link_has_no_event(harness: Harness, sink: EventSink) -> None:
    harness.tenant.fail("POST identities", *[status(400)] * 10)
    linked = await harness.link()
    assert linked.status == "failed"
    assert len(harness.tenant.users[PRIMARY]["identities"]) == 1
    assert await outbox(harness) == []
    await deliver(harness)
    assert sink.received == []


async def test_a_lost_answer_has_its_event_once_reconcile_finds_the_link(
    harness: Harness, sink: EventSink
) -> None:
    link_then_lose(harness, applied=True)
    linked = await harness.link()
    assert (linked.status, linked.error) == ("failed", "outcome_unknown")
    assert await outbox(harness) == []  # not known to have happened: no event yet
    harness.tenant.faults.clear()
    harness.clock.advance(SETTLE_AFTER + 1)
    report = await harness.reconcile()
    assert report.merged == [PRIMARY]
    await until(harness, lambda: len(sink.events) == 1)
    event = sink.events[0]
    assert isinstance(event, IdentityLinked) and event.former_user_id == SECONDARY
    await harness.reconcile()  # settled once: no second event
    await deliver(harness)
    assert len(sink.received) == 1


def unlink_then_lose(harness: Harness, *, applied: bool) -> None:
    write_then_lose(harness, "DELETE identities", applied=applied)


async def test_an_unlink_whose_answer_was_lost_gets_its_event_once_settled(
    harness: Harness, sink: EventSink
) -> None:
    unlink_then_lose(harness, applied=True)
    resumed = await unlink(harness)
    assert (resumed.status, resumed.error) == ("failed", "outcome_unknown")
    assert await outbox(harness) == []  # not known to have happened: no event yet
    harness.tenant.faults.clear()
    report = await harness.reconcile()  # the identity is gone: done, whatever its age
    assert report.unlinked == [PRIMARY]
    await until(harness, lambda: len(sink.events) == 1)
    assert isinstance(sink.events[0], IdentityUnlinked)
    await harness.reconcile()  # settled once: no second event
    await deliver(harness)
    assert len(sink.received) == 1


async def test_a_pending_unlink_is_out_of_sight_of_a_release_that_reads_merges_only(
    harness: Harness,
) -> None:
    """During a rolling upgrade a replica of the release before reads `work-index:` groups
    and takes every item there for a link's merge: an unlink's item is listed elsewhere."""
    unlink_then_lose(harness, applied=False)
    assert (await unlink(harness)).error == "outcome_unknown"
    store = harness.runtime.attempts.store
    assert await store.listed(WORK_INDEXES, limit=100) == []
    (key,) = await store.listed(ALL_WORK_INDEXES, limit=100)
    assert key.startswith("unlink-work:{")


async def test_an_unlink_whose_answer_was_lost_and_did_not_happen_has_no_event(
    harness: Harness, sink: EventSink
) -> None:
    unlink_then_lose(harness, applied=False)
    resumed = await unlink(harness)
    assert (resumed.status, resumed.error) == ("failed", "outcome_unknown")
    harness.tenant.faults.clear()
    early = await harness.reconcile()  # its DELETE may still land: left alone
    assert early.waiting == [PRIMARY]
    harness.clock.advance(SETTLE_AFTER + 1)
    report = await harness.reconcile()
    assert report.not_unlinked == [PRIMARY] and "not unlinked 1" in report.summary()
    assert await outbox(harness) == [] and sink.received == []
    assert await harness.runtime.attempts.store.scan("work:") == []


async def test_a_lost_answer_that_did_not_link_has_no_event(
    harness: Harness, sink: EventSink
) -> None:
    link_then_lose(harness, applied=False)
    linked = await harness.link()
    assert (linked.status, linked.error) == ("failed", "outcome_unknown")
    harness.tenant.faults.clear()
    harness.clock.advance(SETTLE_AFTER + 1)
    assert (await harness.reconcile()).not_linked == [PRIMARY]
    assert await outbox(harness) == []
    await deliver(harness)
    assert sink.received == []


async def test_a_merge_left_pending_has_one_event(harness: Harness, sink: EventSink) -> None:
    harness.tenant.fail("PATCH user", *[status(503)] * 1000)
    assert (await harness.link()).status == "linked"
    await until(harness, lambda: len(sink.events) == 1)
    harness.tenant.faults.clear()
    assert (await harness.reconcile()).merged == [PRIMARY]  # the merge, not a second event
    await deliver(harness)
    await asyncio.sleep(0.05)
    assert len(sink.received) == 1 and await outbox(harness) == []


async def test_metrics_count_deliveries_retries_and_what_is_pending(
    sink: EventSink, tenant: FakeTenant, clock: FakeClock
) -> None:
    async with sending_to(sink.url, tenant, clock, schedule="5s,30s,1m") as harness:
        sink.down = True
        assert (await harness.link()).status == "linked"
        await until(harness, lambda: sink.refused >= 1)
        harness.clock.advance(6)
        await until(harness, lambda: sink.refused >= 2)  # a second failure: waiting now
        text = (await harness.client.get("/metrics")).text
        assert "linker_events_retried_total 2.0" in text
        assert "linker_events_pending 1.0" in text
        assert "linker_events_oldest_pending_seconds 6.0" in text
        sink.down = False
        harness.clock.advance(40)
        await until(harness, lambda: len(sink.events) == 1)
        text = (await harness.client.get("/metrics")).text
        assert 'linker_events_delivered_total{type="identity.linked"} 1.0' in text
        assert "linker_events_pending 0.0" in text


async def test_the_service_stops_as_a_commit_wakes_the_delivery_loop(
    sink: EventSink, tenant: FakeTenant, clock: FakeClock
) -> None:
    """Shutdown cancels the delivery loop even when a commit has just woken it: on Python 3.11
    `asyncio.wait_for` returned instead of raising such a cancellation, the loop went on, and
    the app's shutdown waited for it forever."""

    async def link_and_stop() -> None:
        async with sending_to(sink.url, tenant, clock) as harness:
            sink.down = True
            assert (await harness.link()).status == "linked"

    service = asyncio.create_task(link_and_stop())
    done, _ = await asyncio.wait([service], timeout=5)
    assert done == {service}, "the service did not stop"
    await service
