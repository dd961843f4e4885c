"""Pending work: a link is never undone; a merge that could not be written, or a link whose
outcome could not be read, is settled later, and the merge is applied iff the link exists."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from linker.state.store import MemoryStore, StoreUnavailable, Write
from linker.steps import reconcile as reconcile_module
from linker.steps.reconcile import SETTLE_AFTER, replay, snapshots_to_replay
from tests.service.test_suggest_routes import OLDER, add_grace, commit_as_current, prepared
from tests.support.fake_tenant import status
from tests.support.harness import PRIMARY, SECONDARY, Harness

MERGED = {"theme": "dark", "github": {"handle": "alice"}}


async def pending_work(harness: Harness) -> list[str]:
    store = harness.runtime.attempts.store
    found: list[str] = await store.scan("work:")
    return found


async def test_a_link_leaves_no_work_once_its_merge_is_written(harness: Harness) -> None:
    assert (await harness.link()).status == "linked"
    assert harness.tenant.users[PRIMARY]["user_metadata"] == MERGED
    assert await pending_work(harness) == []


async def test_a_refused_link_leaves_no_work(harness: Harness) -> None:
    harness.tenant.fail("POST identities", *[status(500)] * 100)
    linked = await harness.link()
    assert (linked.status, linked.error) == ("failed", "upstream_unavailable")
    assert await pending_work(harness) == []


class DownAtTheOutcome(MemoryStore):
    """A store that goes down as the commit records its outcome and drops its work item."""

    async def replace(self, old: str, key: str, value: str, ttl: float, *, index: str = "") -> None:
        raise StoreUnavailable("ConnectionError")

    async def record(
        self, writes: Sequence[Write], *, delete: str = "", unlist: tuple[str, str] = ("", "")
    ) -> None:
        if any(w.key.startswith("outcome:") for w in writes):  # the commit's; not reconcile's
            raise StoreUnavailable("ConnectionError")
        await super().record(writes, delete=delete, unlist=unlist)


async def test_a_merge_written_but_not_recorded_stays_owed(harness: Harness) -> None:
    harness.use_store(DownAtTheOutcome(clock=harness.clock))
    assert (await harness.link()).status == "linked"  # true, though not recorded
    assert len(await pending_work(harness)) == 1
    report = await harness.reconcile()  # linked already: settled at once
    assert report.merged == [PRIMARY]
    assert harness.tenant.users[PRIMARY]["user_metadata"] == MERGED
    assert harness.tenant.calls["PATCH user"] == 1  # the merge was there: nothing to write
    assert await pending_work(harness) == []


async def test_a_merge_that_fails_is_linked_and_finished_later(harness: Harness) -> None:
    harness.tenant.fail("PATCH user", *[status(503)] * 1000)
    linked = await harness.link()
    assert linked.status == "linked"  # the link is never undone
    assert len(harness.tenant.users[PRIMARY]["identities"]) == 2
    assert harness.tenant.users[PRIMARY]["user_metadata"] == {"theme": "dark"}
    assert len(await pending_work(harness)) == 1
    harness.tenant.faults.clear()
    report = await harness.reconcile()
    assert report.merged == [PRIMARY]
    assert harness.tenant.users[PRIMARY]["user_metadata"] == MERGED
    assert await pending_work(harness) == []


def write_then_lose(harness: Harness, route: str, *, applied: bool, reads: int = 0) -> None:
    """The write at `route` loses its answer (applied or not), and so does the read that
    would settle it, after `reads` reads answered as they are: the commit cannot tell."""
    tenant = harness.tenant

    def fault(request: httpx.Request) -> httpx.Response:
        if applied:
            tenant.answer(route, request)
        raise httpx.ReadTimeout("answer lost", request=request)

    tenant.fail(route, fault)
    as_it_is = [lambda r: tenant.answer("GET user", r)] * reads
    tenant.fail("GET user", *as_it_is, *[status(503)] * 1000)


def link_then_lose(harness: Harness, *, applied: bool) -> None:
    """A link's POST, after the secondary was read."""
    write_then_lose(harness, "POST identities", applied=applied, reads=1)


async def test_an_unknown_outcome_that_linked_gets_its_merge(harness: Harness) -> None:
    link_then_lose(harness, applied=True)
    linked = await harness.link()
    assert (linked.status, linked.error) == ("failed", "outcome_unknown")
    harness.tenant.faults.clear()
    harness.clock.now += SETTLE_AFTER + 1
    report = await harness.reconcile()
    assert report.merged == [PRIMARY]
    assert harness.tenant.users[PRIMARY]["user_metadata"] == MERGED


async def test_an_unknown_outcome_that_did_not_link_merges_nothing(harness: Harness) -> None:
    link_then_lose(harness, applied=False)
    linked = await harness.link()
    assert (linked.status, linked.error) == ("failed", "outcome_unknown")
    harness.tenant.faults.clear()
    early = await harness.reconcile()  # too young to be sure: left alone
    assert early.waiting == [PRIMARY]
    harness.clock.now += SETTLE_AFTER + 1
    report = await harness.reconcile()
    assert report.not_linked == [PRIMARY]
    assert harness.tenant.users[PRIMARY]["user_metadata"] == {"theme": "dark"}
    assert len(harness.tenant.users[PRIMARY]["identities"]) == 1
    assert await pending_work(harness) == []


async def test_a_reconcile_against_a_down_tenant_keeps_the_work(harness: Harness) -> None:
    harness.tenant.fail("PATCH user", *[status(503)] * 1000)
    await harness.link()
    harness.tenant.fail("GET user", *[status(503)] * 1000)
    report = await harness.reconcile()
    assert report.pending == 1 and len(await pending_work(harness)) == 1


async def test_snapshots_in_the_audit_file_are_replayed(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    harness.runtime.audit.path = path
    harness.tenant.fail("PATCH user", *[status(503)] * 1000)
    assert (await harness.link()).status == "linked"
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1])["merge"] == "pending"
    # The store lost its work (say, a memory store that restarted): the audit file has it.
    await harness.runtime.attempts.store.delete((await pending_work(harness))[0])
    harness.tenant.faults.clear()
    report = await replay(harness.runtime, snapshots_to_replay(lines))
    assert report.merged == [PRIMARY]
    assert harness.tenant.users[PRIMARY]["user_metadata"] == MERGED


async def test_a_suggested_links_snapshot_in_the_audit_file_is_replayed(
    harness: Harness, tmp_path: Path
) -> None:
    """A suggestion accepted writes its snapshot lines as `suggest`, the older account as
    `primary`: the store lost the merge owed, and the file gives it back."""
    add_grace(harness.tenant)
    audit = tmp_path / "audit.jsonl"
    harness.runtime.audit.path = audit
    commit = await prepared(harness)
    harness.tenant.fail("PATCH user", *[status(503)] * 1000)
    assert (await commit_as_current(harness, commit))["status"] == "linked"
    for key in await pending_work(harness):  # the store lost its pending work
        await harness.runtime.attempts.store.delete(key)
    harness.tenant.faults.clear()
    report = await replay(harness.runtime, snapshots_to_replay(audit.read_text().splitlines()))
    assert report.merged == [OLDER]
    assert harness.tenant.users[OLDER]["user_metadata"] == {"theme": "dark", "handle": "grace-h"}


def test_finished_attempts_are_not_replayed() -> None:
    snapshot = {
        "event": "snapshot",
        "action": "link",
        "primary": PRIMARY,
        "secondary": SECONDARY,
        "connection": "github",
        "secondary_metadata": {"user_metadata": {"a": 1}, "app_metadata": {}},
    }
    done = {**snapshot, "event": "attempt", "merge": "applied", "status": "linked"}
    lines = [json.dumps(snapshot), json.dumps(done), "not json"]
    assert snapshots_to_replay(lines) == []
    assert len(snapshots_to_replay(lines[:1])) == 1


async def test_a_defect_on_one_item_leaves_it_pending_and_the_loop_running(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception while settling an item fails that item only: it stays pending,
    its lease is released, and the background loop goes on to settle it on a later pass."""
    harness.tenant.fail("PATCH user", *[status(503)] * 1000)
    assert (await harness.link()).status == "linked"
    harness.tenant.faults.clear()
    real_settle = reconcile_module.settle
    defects = [RuntimeError("a defect")]

    async def settle_once_broken(*args: Any, **kwargs: Any) -> None:
        if defects:
            raise defects.pop()
        await real_settle(*args, **kwargs)

    monkeypatch.setattr(reconcile_module, "settle", settle_once_broken)
    loop = asyncio.create_task(reconcile_module.run_in_background(harness.runtime, interval=0))
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            if harness.tenant.users[PRIMARY]["user_metadata"] == MERGED:
                break
        assert not loop.done(), loop
        assert defects == []  # the first pass met the defect
        assert harness.tenant.users[PRIMARY]["user_metadata"] == MERGED
        assert await pending_work(harness) == []
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
