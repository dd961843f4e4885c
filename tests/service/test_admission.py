"""Admission control under a burst: the steps beyond `LINKER_MAX_IN_FLIGHT` are told "busy" at
once, the admitted ones finish, and a refused step left nothing behind, so it can be retried."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from linker.app import create_app
from linker.ops.admission import Admission, Refusals
from linker.ops.observability import Metrics
from linker.tenant.upstream import Retrier
from linker.testing import FakeClock
from tests.support.fake_tenant import FakeTenant, raise_, status
from tests.support.harness import (
    PRIMARY,
    Harness,
    hs256,
    make_settings,
    nested_state,
    read_resume,
)
from tests.support.httpx_upstream import HttpxUpstream

LIMIT = 3
BURST = 5


@dataclass
class Gate:
    """Holds the calls to the tenant that `held` picks until `release`; the rest go through."""

    tenant: FakeTenant
    held: Callable[[httpx.Request], bool] = lambda request: False
    waiting: int = 0
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.held(request) and not self.opened.is_set():
            async with self.changed:
                self.waiting += 1
                self.changed.notify_all()
            await self.opened.wait()
        return self.tenant.handle(request)

    async def holding(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.waiting >= count)


@pytest.fixture
async def gated(tenant: FakeTenant, clock: FakeClock) -> AsyncIterator[tuple[Harness, Gate]]:
    gate = Gate(tenant)
    gate.opened.set()
    settings = make_settings(LINKER_MAX_IN_FLIGHT=str(LIMIT))
    upstream = httpx.AsyncClient(transport=httpx.MockTransport(gate.handle))
    app = create_app(
        settings,
        http=HttpxUpstream(upstream),
        clock=clock,
        retrier=Retrier(clock=clock, sleep=clock.sleep),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:
            yield (
                Harness(tenant=tenant, clock=clock, client=client, settings=settings, app=app),
                gate,
            )
    await upstream.aclose()


def secondaries(tenant: FakeTenant) -> list[str]:
    subs = [f"github|20{n}" for n in range(BURST)]
    for sub in subs:
        tenant.add_user(sub, email="alice@example.com")
    return subs


async def burst(
    gate: Gate, calls: Sequence[Callable[[], Awaitable[httpx.Response]]], *, held: int = LIMIT
) -> tuple[list[httpx.Response], list[asyncio.Future[httpx.Response]]]:
    """Start every call at once; return the answers given while the gate holds the admitted
    ones (the refusals), and the admitted ones, still waiting."""
    gate.opened.clear()
    tasks = [asyncio.ensure_future(call()) for call in calls]
    async with asyncio.timeout(10):
        await gate.holding(held)
    for _ in range(1000):  # no real I/O: each turn of the loop moves every request on
        if sum(task.done() for task in tasks) >= BURST - LIMIT:
            break
        await asyncio.sleep(0)
    done = [task for task in tasks if task.done()]
    return [task.result() for task in done], [task for task in tasks if not task.done()]


def test_a_slot_is_given_back_and_none_is_given_past_the_limit() -> None:
    admission = Admission(1)
    with admission.slot() as first:
        with admission.slot() as second:
            assert (first, second) == (True, False)
        assert admission.in_flight == 1
    assert admission.in_flight == 0
    with pytest.raises(RuntimeError), admission.slot():
        raise RuntimeError("a step that fails")
    assert admission.in_flight == 0


async def test_a_burst_of_starts_beyond_the_limit_resumes_busy_and_can_start_again(
    gated: tuple[Harness, Gate],
) -> None:
    harness, gate = gated
    gate.held = lambda request: request.url.path.endswith("jwks.json")
    signed = [hs256(harness.start_claims()) for _ in range(BURST)]
    # The key set is fetched once for everyone (single flight): one call is held.
    calls = [partial(harness.start, token) for token in signed]
    refused, admitted = await burst(gate, calls, held=1)

    assert len(refused) == BURST - LIMIT and len(admitted) == LIMIT
    for answer in refused:
        result = read_resume(answer).result
        assert (result["status"], result["error"]) == ("failed", "upstream_unavailable")
        assert "busy" in result["error_description"]
    gate.opened.set()
    assert [r.status_code for r in await asyncio.gather(*admitted)] == [302] * LIMIT

    # The refused start tokens were not spent: the same start URLs work now.
    for answer in refused:
        assert (await harness.client.send(answer.request)).status_code == 302


async def test_a_burst_of_callbacks_beyond_the_limit_gets_503_and_a_reload_finishes(
    gated: tuple[Harness, Gate],
) -> None:
    harness, gate = gated
    logins = []
    for sub in secondaries(harness.tenant):
        started = await harness.start()
        code = harness.tenant.login(started.headers["location"], sub=sub)
        logins.append({"code": code, "state": nested_state(started)})
    gate.held = lambda request: request.url.path == "/oauth/token"

    refused, admitted = await burst(
        gate, [partial(harness.callback, **params) for params in logins]
    )

    assert len(refused) == BURST - LIMIT
    for answer in refused:
        assert answer.status_code == 503
        assert "upstream_unavailable" in answer.text and "Reload this page" in answer.text
    gate.opened.set()
    assert all(r.status_code == 200 for r in await asyncio.gather(*admitted))
    assert harness.tenant.calls["POST /oauth/token"] == LIMIT  # no code of a refused one used

    # Nothing was taken for the refused ones: the same callback URLs (a reload) finish.
    for answer in refused:
        reloaded = await harness.client.send(answer.request)
        assert read_resume(await harness.choose(reloaded, "link")).status == "pending"


async def test_a_burst_of_commits_beyond_the_limit_gets_503_json_and_nothing_half_done(
    gated: tuple[Harness, Gate],
) -> None:
    harness, gate = gated
    commits = []
    for sub in secondaries(harness.tenant):
        commits.append(read_resume(await harness.link_callback(sub)).commit)
    gate.held = lambda request: "/api/v2/" in request.url.path

    refused, admitted = await burst(gate, [partial(harness.commit, commit) for commit in commits])

    assert len(refused) == BURST - LIMIT
    for answer in refused:
        assert answer.status_code == 503
        assert answer.json()["error"] == "upstream_unavailable"
    gate.opened.set()
    assert [r.json()["status"] for r in await asyncio.gather(*admitted)] == ["linked"] * LIMIT
    linked = harness.tenant.users[PRIMARY]["identities"]
    assert len(linked) == 1 + LIMIT  # only the admitted commits wrote anything

    # The refused attempts are still prepared: committing them again links them.
    for answer in refused:
        retried = await harness.client.send(answer.request)
        assert retried.json()["status"] == "linked"
    assert len(harness.tenant.users[PRIMARY]["identities"]) == 1 + BURST
    assert await busy_count(harness, "commit") == BURST - LIMIT


async def busy_count(harness: Harness, step: str) -> float:
    """The refusals `/metrics` counts for `step`."""
    text = (await harness.client.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "linker_requests_total"
        and sample.labels == {"step": step, "status": "busy", "code": "upstream_unavailable"}
    )


async def test_a_full_pool_at_the_code_exchange_resumes_unavailable_without_a_retry(
    harness: Harness,
) -> None:
    harness.tenant.fail("POST /oauth/token", raise_(httpx.PoolTimeout), status(200))
    answer = await harness.link_callback()
    assert read_resume(answer).error == "upstream_unavailable"
    assert harness.tenant.calls["POST /oauth/token"] == 1


def test_refused_starts_are_counted_and_logged_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    refusals = Refusals(clock=lambda: now[0])
    metrics = Metrics()
    caplog.set_level(logging.INFO, logger="linker")
    refusals.refused(metrics, "room")  # the first: told at once
    for _ in range(5):
        refusals.refused(metrics, "room")
    refusals.refused(metrics, "throttled_address")
    now[0] += 61
    refusals.refused(metrics, "room")  # a minute on: the count since the last line
    lines = [r.getMessage() for r in caplog.records if "starts_refused" in r.getMessage()]
    assert [json.loads(line) for line in lines] == [
        {"event": "starts_refused", "room": 1},
        {"event": "starts_refused", "room": 6, "throttled_address": 1},
    ]
    text = metrics.render()
    assert 'linker_starts_refused_total{reason="room"} 7.0' in text
    assert 'linker_starts_refused_total{reason="throttled_address"} 1.0' in text
