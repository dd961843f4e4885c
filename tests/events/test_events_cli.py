"""`linker events` on a shared Redis: a parked event listed, replayed and delivered, or
discarded; its exit codes. And `linker check`'s signed ping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from linker.cli import main
from linker.client.events import IdentityLinked, Ping
from linker.commands.events import restorable
from linker.core.events import Pending
from linker.state.store import RedisStore
from linker.steps.delivery import ping
from linker.testing import FakeClock, free_port
from linker.testing.events import EventSink
from tests.events.support import EVENTS_SECRET, deliver, outbox, parked, sending_to, until
from tests.service.test_unlink import unlink
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import PRIMARY, Harness, make_settings, settings_env


@pytest.fixture
def sink() -> Iterator[EventSink]:
    with EventSink(EVENTS_SECRET) as receiving:
        yield receiving


@pytest.fixture
def store_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str) -> str:
    monkeypatch.chdir(tmp_path)  # no .env
    for name, value in settings_env(LINKER_STORE_URL=redis_url).items():
        monkeypatch.setenv(name, value)
    return redis_url


async def park_one(harness: Harness, sink: EventSink) -> str:
    """A link whose event the receiver refuses past the one-wait schedule: parked."""
    sink.down = True
    assert (await harness.link()).status == "linked"
    await until(harness, lambda: sink.refused >= 1)
    harness.clock.advance(2)
    await until(harness, lambda: sink.refused >= 2)
    (key,) = await parked(harness)
    assert await outbox(harness) == []  # parked events are not pending
    raw = await harness.runtime.attempts.store.get(key)
    assert raw is not None and '"parked":true' in raw
    return key


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(main, ["events", *argv])


async def test_a_parked_event_is_listed_replayed_and_delivered(
    store_env: str,
    sink: EventSink,
    tenant: FakeTenant,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = RedisStore.from_url(store_env)
    async with sending_to(sink.url, tenant, clock, store=store, schedule="1s") as harness:
        await park_one(harness, sink)
        assert await cli() == 0
        (line,) = capsys.readouterr().out.splitlines()
        assert line.startswith("parked") and "identity.linked" in line and "failures=2" in line
        event_id = line.split()[1]
        assert await cli("replay", "evt_no_such_event") == 1
        assert await cli("replay", event_id) == 0
        assert await parked(harness) == [] and len(await outbox(harness)) == 1
        sink.down = False
        await until(harness, lambda: len(sink.events) == 1)
        assert isinstance(sink.events[0], IdentityLinked) and sink.events[0].id == event_id
        assert await cli("replay", event_id) == 1  # delivered: nothing parked any more


async def test_a_parked_event_can_be_discarded(
    store_env: str,
    sink: EventSink,
    tenant: FakeTenant,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = RedisStore.from_url(store_env)
    async with sending_to(sink.url, tenant, clock, store=store, schedule="1s") as harness:
        await park_one(harness, sink)
        await cli()
        event_id = capsys.readouterr().out.split()[1]
        assert await cli("discard", event_id) == 0
        assert await parked(harness) == [] and await outbox(harness) == []
        assert await cli("discard", event_id) == 1
        await cli()
        assert capsys.readouterr().out.count("parked") == 0
        sink.down = False
        await deliver(harness)
        assert sink.received == []


async def test_a_store_that_lost_its_outbox_gets_the_events_back_from_the_audit_file(
    store_env: str,
    sink: EventSink,
    tenant: FakeTenant,
    clock: FakeClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The store loses everything while a link's event waits; `linker events restore` makes
    it again from the audit file, with the id it had, and the receiver gets it."""
    audit = tmp_path / "audit.jsonl"
    store = RedisStore.from_url(store_env)
    async with sending_to(
        sink.url, tenant, clock, store=store, schedule="1s", LINKER_AUDIT_FILE=str(audit)
    ) as harness:
        sink.down = True
        assert (await harness.link()).status == "linked"
        (key,) = await outbox(harness)
        raw = await harness.runtime.attempts.store.get(key)
        assert raw is not None
        original = Pending.loads(raw).event
        raw_redis = Redis.from_url(store_env)
        await raw_redis.flushall()  # the store's data is gone
        await raw_redis.aclose()
        assert await outbox(harness) == []

        assert await cli("restore", str(audit), "--since", "2000-01-01") == 0
        assert capsys.readouterr().out == f"events restored from {audit}: 1 (0 restored before)\n"
        assert await cli("restore", str(audit), "--since", "2000-01-01") == 0
        assert f"{audit}: 0 (1 restored before)" in capsys.readouterr().out  # kept once
        sink.down = False
        await until(harness, lambda: len(sink.events) == 1)
    (event,) = sink.events
    assert isinstance(event, IdentityLinked) and event.id == original.id
    assert event.primary_user_id == PRIMARY


async def test_restore_takes_the_writes_since_the_time_given_and_refuses_a_missing_file(
    store_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "audit.jsonl"
    lines = [
        '{"event": "attempt", "action": "link", "status": "linked", "primary": "auth0|a", '
        f'"secondary": "github|{n}", "connection": "github", "audit_id": "aud_{n}", '
        f'"time": "2026-12-0{n}T10:00:00+00:00"}}'
        for n in (1, 5)
    ]
    long_line = '{"event": "attempt", "pad": "' + "x" * (2 * 1024 * 1024) + '"}'
    audit.write_text("\n".join([lines[0], long_line, "not json", lines[1]]) + "\n")
    assert await cli("restore", str(audit), "--since", "2026-12-03") == 0
    assert f"{audit}: 1 (0 restored before)" in capsys.readouterr().out
    assert await cli("restore", str(audit), "--since", "2026-11-30") == 0
    assert f"{audit}: 1 (1 restored before)" in capsys.readouterr().out  # the older one too
    assert await cli("restore", str(tmp_path / "missing.jsonl")) == 1
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        await cli("restore", str(audit), "--since", "last week")


def test_an_unreachable_store_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    env = settings_env(LINKER_STORE_URL=f"redis://127.0.0.1:{free_port()}/0")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["events"]) == 2
    assert "unreachable" in capsys.readouterr().err


async def test_check_sends_a_signed_ping(sink: EventSink) -> None:
    settings = make_settings(LINKER_EVENTS_URL=sink.url, LINKER_EVENTS_SECRET=EVENTS_SECRET)
    took, line = await ping(settings, now=time.time())
    assert took and "accepted (HTTP 200)" in line
    assert isinstance(sink.events[0], Ping)
    sink.down = True
    took, line = await ping(settings, now=time.time())
    assert not took and line.startswith("LINKER_EVENTS_URL:") and "HTTP 503" in line
    assert EVENTS_SECRET not in line


async def test_an_unlinks_event_restored_from_the_audit_file_is_the_one_sent(
    sink: EventSink, tenant: FakeTenant, clock: FakeClock, tmp_path: Path
) -> None:
    """The unlink's audit line names the unlinked identity's connection (not the one the
    primary re-authenticated with), so the event made again from it says what the first did."""
    audit = tmp_path / "audit.jsonl"
    async with sending_to(sink.url, tenant, clock, LINKER_AUDIT_FILE=str(audit)) as harness:
        sink.down = True
        assert (await unlink(harness)).status == "unlinked"
        (key,) = await outbox(harness)
        raw = await harness.runtime.attempts.store.get(key)
        assert raw is not None
        original = Pending.loads(raw).event
        sink.down = False
        await until(harness, lambda: len(sink.events) == 1)
    (restored,) = restorable(audit.read_text().splitlines(), 0)
    assert (restored.id, restored.data) == (original.id, original.data)
    assert restored.data["connection"] == "github"


async def test_an_entry_of_a_later_release_is_named_not_a_traceback(
    store_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Delivery leaves an outbox entry it cannot read for the release that wrote it (a
    rolling upgrade); `linker events` names it and goes on, and replay and discard still work."""
    later = '{"event": "[\\"evt_x\\", \\"identity.renamed\\"]", "parked": false}'
    raw_redis = Redis.from_url(store_env)
    await raw_redis.set("linker:event:{00}later", later)
    await raw_redis.zadd("linker:event-index:{00}", {"event:{00}later": 1})
    await raw_redis.aclose()
    assert await cli() == 0
    assert "event:{00}later is not an event this release reads" in capsys.readouterr().err
    assert await cli("discard", "evt_nothing") == 1
