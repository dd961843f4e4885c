"""Replicas whose clocks disagree (one host 90 s ahead or behind; NTP breaks more often than
anyone plans). They share one store, whose clock they agree on: pending work is judged by
it, tokens tolerate a few minutes of skew, and beyond that a refusal that time decided is a
retryable `failed`, never a `denied` that blames the user for the server's clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import cast

import httpx
import pytest

from linker.core.claims import LEEWAY
from linker.core.secret import Secret
from linker.state.store import MemoryStore
from linker.state.store_clock import clock_notes
from linker.state.work import PREFIX as WORK_PREFIX
from linker.testing import FakeClock, free_port
from linker.web.cookies import TxnCookies
from tests.service.test_suggest_routes import add_grace, offer, offer_id
from tests.support.fake_tenant import FakeTenant, Fault, status
from tests.support.harness import (
    PRIMARY,
    Harness,
    confirm_fields,
    hs256,
    make_settings,
    nested_state,
    read_resume,
    running,
)

MERGED = {"theme": "dark", "github": {"handle": "alice"}}


class SkewedClock(FakeClock):
    """A host's clock `skew` seconds off the true one (`base`), which moves it."""

    def __init__(self, base: FakeClock, skew: float) -> None:
        super().__init__(base())
        self.base, self.skew = base, skew

    def __call__(self) -> float:
        return self.base() + self.skew

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)


class Replicas:
    """Replica `a` on the true clock and `b` on a skewed one, sharing one store (whose clock
    is the true one) and one tenant."""

    def __init__(self, a: Harness, b: Harness, store: MemoryStore) -> None:
        self.a, self.b, self.store = a, b, store

    async def link_across(self, first: Harness, then: Harness) -> httpx.Response:
        """Start on `first`, come back to `then` from the nested login and commit there; the
        Action's tokens are made on the true clock."""
        claims = self.a.start_claims()
        started = await first.start(hs256(claims))
        assert started.status_code == 302, started.text
        code = self.a.tenant.login(started.headers["location"], sub="github|1001")
        then.client.cookies = first.client.cookies  # one browser
        resumed = read_resume(await then.callback(code=code, state=nested_state(started)))
        assert resumed.status == "pending", resumed.result
        token = hs256(self.a.commit_claims(resumed.commit))
        return await then.commit(resumed.commit, token=token)


async def replicas(tenant: FakeTenant, clock: FakeClock, skew: float) -> AsyncIterator[Replicas]:
    store = MemoryStore(clock=clock)
    settings = make_settings()
    async with (
        running(tenant, clock, settings, store=store) as a,
        running(tenant, SkewedClock(clock, skew), settings, store=store) as b,
    ):
        yield Replicas(a, b, store)


@pytest.fixture(params=[90.0, -90.0], ids=["ahead", "behind"])
async def skewed(
    request: pytest.FixtureRequest, tenant: FakeTenant, clock: FakeClock
) -> AsyncIterator[Replicas]:
    async for pair in replicas(tenant, clock, cast(float, request.param)):
        yield pair


@pytest.fixture
async def far_ahead(tenant: FakeTenant, clock: FakeClock) -> AsyncIterator[Replicas]:
    """`b`'s clock jumps 15 minutes ahead after it measured its offset from the store."""
    async for pair in replicas(tenant, clock, 0.0):
        cast(SkewedClock, pair.b.clock).skew = LEEWAY + 600.0
        yield pair


@pytest.mark.parametrize("skewed_first", [False, True], ids=["a-then-b", "b-then-a"])
async def test_a_flow_across_replicas_90_s_apart_links(
    skewed: Replicas, skewed_first: bool
) -> None:
    first, then = (skewed.b, skewed.a) if skewed_first else (skewed.a, skewed.b)
    answer = await skewed.link_across(first, then)
    assert answer.status_code == 200 and answer.json()["status"] == "linked"
    assert skewed.a.tenant.users[PRIMARY]["user_metadata"] == MERGED


async def test_a_skewed_replica_reports_its_offset_from_the_store(skewed: Replicas) -> None:
    body = (await skewed.b.client.get("/readyz")).json()
    assert body["status"] == "ready"
    assert body["clock_offset_seconds"] == skewed.b.clock() - skewed.a.clock()
    assert "ahead of" in body["warning"] or "behind" in body["warning"]
    assert "warning" not in (await skewed.a.client.get("/readyz")).json()


async def test_beyond_the_leeway_a_time_refusal_is_try_again_never_denied(
    far_ahead: Replicas,
) -> None:
    # A start token the Action made just now is "expired" on b's clock, which jumped.
    claims = far_ahead.a.start_claims()
    started = await far_ahead.b.start(hs256(claims))
    assert started.status_code == 503
    assert "<code>upstream_unavailable</code>" in started.text
    # b measured its clock again as it refused: the store's time is what it judges by now.
    retried = await far_ahead.b.start(hs256(far_ahead.a.start_claims()))
    assert retried.status_code == 302
    body = (await far_ahead.b.client.get("/readyz")).json()
    assert body["clock_offset_seconds"] == LEEWAY + 600.0 and "ahead of" in body["warning"]
    # b's clock jumps again: a commit token is "try again", with the attempt still prepared.
    cast(SkewedClock, far_ahead.b.clock).skew += LEEWAY + 600.0
    started = await far_ahead.a.start()
    code = far_ahead.a.tenant.login(started.headers["location"], sub="github|1001")
    resumed = read_resume(await far_ahead.a.callback(code=code, state=nested_state(started)))
    token = hs256(far_ahead.a.commit_claims(resumed.commit))  # the Action's clock is right
    answer = await far_ahead.b.commit(resumed.commit, token=token)
    assert answer.status_code == 503 and answer.json()["error"] == "upstream_unavailable"
    assert len(far_ahead.a.tenant.users[PRIMARY]["identities"]) == 1
    committed = await far_ahead.b.commit(resumed.commit, token=token)  # the Action retries
    assert committed.json()["status"] == "linked"


async def test_a_token_truly_expired_is_still_denied_on_a_replica_whose_clock_is_right(
    far_ahead: Replicas,
) -> None:
    now = int(far_ahead.a.clock())
    hint = far_ahead.a.hint(iat=now - LEEWAY - 200, exp=now - LEEWAY - 1)
    resumed = read_resume(await far_ahead.a.start(id_token_hint=hint))
    assert (resumed.status, resumed.error) == ("denied", "invalid_id_token_hint")


async def test_a_replica_far_ahead_never_settles_a_commit_in_progress_as_not_linked(
    far_ahead: Replicas,
) -> None:
    """Its clock says the work item is an hour old; the store says its commit is writing."""
    a, b, tenant = far_ahead.a, far_ahead.b, far_ahead.a.tenant
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_link(request: httpx.Request) -> httpx.Response:
        entered.set()
        await release.wait()
        return tenant.answer("POST identities", request)

    tenant.fail("POST identities", cast(Fault, slow_link))
    tenant.fail("PATCH user", *[status(503)] * 1000)  # the merge will be owed
    started = await a.start()
    code = tenant.login(started.headers["location"], sub="github|1001")
    resumed = read_resume(await a.callback(code=code, state=nested_state(started)))
    committing = asyncio.create_task(a.commit(resumed.commit))
    await entered.wait()
    report = await b.reconcile()  # while the link is on its way
    assert report.waiting == [PRIMARY] and report.not_linked == []
    assert len(await far_ahead.store.scan(WORK_PREFIX)) == 1
    release.set()
    assert (await committing).json()["status"] == "linked"
    tenant.faults.clear()
    assert (await b.reconcile()).merged == [PRIMARY]
    assert tenant.users[PRIMARY]["user_metadata"] == MERGED  # nothing half-done


def test_a_cookie_signed_by_a_replica_a_little_ahead_still_binds_the_browser() -> None:
    here = TxnCookies([Secret("s" * 40)], max_age=600)
    for skew, matches in ((90, True), (LEEWAY + 60, False)):
        ahead = TxnCookies([Secret("s" * 40)], max_age=600)

        def skewed_time(skew: int = skew) -> int:
            return int(time.time()) + skew

        ahead._signer.get_timestamp = skewed_time  # type: ignore[method-assign]
        assert here.matches(ahead.value("txn-1"), "txn-1") is matches
    assert not here.matches(ahead.value("txn-1"), "txn-2")


async def test_linker_check_reports_the_offset_from_a_redis_store(redis_url: str) -> None:
    """`linker check` compares this host's clock with Redis `TIME`, and warns beyond the
    leeway."""
    right = await clock_notes(redis_url)
    assert len(right) == 1 and right[0].startswith("note: this host's clock is ")
    assert abs(float(right[0].split()[5])) < 5  # the same machine's clock, give or take
    ahead = await clock_notes(redis_url, clock=lambda: time.time() + 120)
    assert ahead[1].startswith("warning: this host's clock is 120 s ahead of the store's")
    behind = await clock_notes(redis_url, clock=lambda: time.time() - 120)
    assert "120 s behind the store's" in behind[1]
    assert await clock_notes("memory://") == []


async def test_linker_check_says_when_the_store_cannot_be_reached() -> None:
    notes = await clock_notes(f"redis://127.0.0.1:{free_port()}/0")
    assert notes == ["note: the store could not be reached; this host's clock was not compared"]


async def test_a_one_time_record_refused_by_a_jumped_clock_is_kept_for_the_retry(
    far_ahead: Replicas,
) -> None:
    """The callback's transaction, the shown account and the suggestion's offer are taken
    before their expiry is checked: on a replica whose clock jumped, the refusal is "try
    again" (503) and the record is given back, so the retry, judged by the new measure,
    goes on where it stopped."""
    a, b = far_ahead.a, far_ahead.b
    started = await a.start()
    code = a.tenant.login(started.headers["location"], sub="github|1001")
    b.client.cookies = a.client.cookies  # one browser, back at replica b
    params = {"code": code, "state": nested_state(started)}
    refused = await b.client.get("/link/callback", params=params)
    assert refused.status_code == 503 and "<code>upstream_unavailable</code>" in refused.text
    page = await b.client.get("/link/callback", params=params)  # measured again: goes on
    assert page.status_code == 200 and 'name="choice"' in page.text
    cast(SkewedClock, b.clock).skew += LEEWAY + 600.0  # and jumps again before the press
    refused = await b.client.post("/link/confirm", data=confirm_fields(page, "link"))
    assert refused.status_code == 503 and "<code>upstream_unavailable</code>" in refused.text
    resumed = read_resume(await b.client.post("/link/confirm", data=confirm_fields(page, "link")))
    assert resumed.status == "pending"


async def test_a_suggestion_chosen_on_a_replica_whose_clock_jumped_is_try_again(
    far_ahead: Replicas,
) -> None:
    a, b = far_ahead.a, far_ahead.b
    add_grace(a.tenant)
    choice = {"offer": offer_id(await offer(a)), "candidate": "0"}
    b.client.cookies = a.client.cookies
    refused = await b.client.post("/link/suggest/choose", data=choice)
    assert refused.status_code == 503 and "<code>upstream_unavailable</code>" in refused.text
    chosen = await b.client.post("/link/suggest/choose", data=choice)
    assert chosen.status_code == 302 and "/authorize" in chosen.headers["location"]


async def test_a_transaction_truly_expired_stays_refused(far_ahead: Replicas) -> None:
    """The host's clock is off, but by the store's clock the transaction expired too (kept a
    little past its expiry, to say so): the refusal stands."""
    a, b = far_ahead.a, far_ahead.b
    started = await a.start()
    code = a.tenant.login(started.headers["location"], sub="github|1001")
    a.clock.advance(a.settings.txn_ttl + 1)  # the true time: past the transaction's life
    b.client.cookies = a.client.cookies
    params = {"code": code, "state": nested_state(started)}
    answer = await b.client.get("/link/callback", params=params)
    assert answer.status_code == 400 and "<code>transaction_expired</code>" in answer.text
