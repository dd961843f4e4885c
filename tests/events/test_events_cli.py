"""`linker events` on a shared Redis: a parked event listed, replayed and delivered, or
discarded; its exit codes. And `linker check`'s signed ping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linker.cli import main
from linker.client.events import IdentityLinked, Ping
from linker.state.store import RedisStore
from linker.steps.delivery import ping
from linker.testing import FakeClock, free_port
from linker.testing.events import EventSink
from tests.events.support import EVENTS_SECRET, deliver, outbox, parked, sending_to, until
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import Harness, make_settings, settings_env


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
