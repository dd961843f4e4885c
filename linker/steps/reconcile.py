"""Pending work: merges not yet written, and links (or unlinks) whose outcome was not yet read.

A link is never undone, so a merge that could not be written when the link was made stays in
the store as a work item (the secondary's metadata snapshot, the primary and the identity).
`reconcile` settles every item: when the identity is linked to the primary, the snapshot is
merged into the primary *as it is now* and written with one PATCH; when it is not linked (the
link's outcome was unknown, and it did not happen), there is nothing to merge. So a merge is
applied if and only if its link exists.

It runs in the background of every replica (`run_in_background`), in-process on demand
(`app.state.reconcile()`), and from the command line (`linker reconcile`), which can also
replay the snapshots of `LINKER_AUDIT_FILE` when the store lost them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from linker.core.errors import Code, LinkError
from linker.core.identities import Identity, identities_of
from linker.ops.observability import log_event
from linker.runtime import Runtime
from linker.state import work
from linker.state.attempts import OUTCOME_TTL, outbox_write
from linker.state.keys import commit_of_work, work_index
from linker.state.store import StoreUnavailable, hash_tag
from linker.state.work import WorkItem
from linker.steps.merging import lock_seconds, merge_into, one_merge_per_user

# An item whose commit still has an outcome key (in progress, or recorded less than this long
# ago) may belong to a commit still writing it, or to a write whose lost answer may still land:
# it is left alone unless its link is already there. The store expires that key on its own
# clock, which every replica shares, so a replica whose clock is off cannot judge an item old
# too early.
SETTLE_AFTER = float(OUTCOME_TTL)
# The background loop's period: pending work is first retried within 30 s of the failure.
INTERVAL = 10.0

logger = logging.getLogger("linker.reconcile")


@dataclass
class Report:
    """What one pass did, for the command line and the tests."""

    merged: list[str] = field(default_factory=list)  # primaries whose merge was written
    not_linked: list[str] = field(default_factory=list)  # links that never happened
    unlinked: list[str] = field(default_factory=list)  # unlinks found done: event recorded
    not_unlinked: list[str] = field(default_factory=list)  # unlinks that never happened
    waiting: list[str] = field(default_factory=list)  # left for a later pass
    failed: list[str] = field(default_factory=list)  # the tenant did not answer
    unreachable: bool = False  # the tenant (or the store) could not be reached at all

    @property
    def pending(self) -> int:
        return len(self.waiting) + len(self.failed)

    def add(self, other: Report) -> None:
        self.merged += other.merged
        self.not_linked += other.not_linked
        self.unlinked += other.unlinked
        self.not_unlinked += other.not_unlinked
        self.waiting += other.waiting
        self.failed += other.failed
        self.unreachable = self.unreachable or other.unreachable

    def summary(self) -> str:
        unlinks = (
            f"unlinked {len(self.unlinked)}, not unlinked {len(self.not_unlinked)}, "
            if self.unlinked or self.not_unlinked
            else ""
        )
        return (
            f"merged {len(self.merged)}, not linked {len(self.not_linked)}, {unlinks}"
            f"waiting {len(self.waiting)}, failed {len(self.failed)}"
        )

    def fail(self, key: str, error: LinkError) -> None:
        self.failed.append(key)
        if error.code is Code.UPSTREAM_UNAVAILABLE:
            self.unreachable = True


async def settle(rt: Runtime, item: WorkItem, report: Report) -> None:
    """Finish one item against the tenant's current state."""
    if item.action == "unlink":
        await _settle_unlink(rt, item, report)
        return
    # As long as a lock can live: a commit still merging finishes, a crashed one's lapses.
    async with one_merge_per_user(rt, item.primary, wait=lock_seconds(rt)) as held:
        if not held:  # the store says so still: next pass
            report.waiting.append(item.primary)
            return
        budget = rt.tenant.budget()  # from now: the wait is not the tenant's time
        # Asked before the tenant is read: once the key is gone, the read sees every write made.
        young = await _commit_may_still_write(rt, item)
        primary = await rt.management.get_user(item.primary, budget)
        if item.identity not in identities_of(primary):
            await _undone(rt, item, report, young=young, never=report.not_linked)
            return
        await merge_into(rt, item.primary, primary, item.snapshot, budget)
    report.merged.append(item.primary)
    log_event("merge_settled", sub=item.primary, secondary=item.identity.full_id)
    await _finish_settled(rt, item)


async def _settle_unlink(rt: Runtime, item: WorkItem, report: Report) -> None:
    """An unlink whose outcome was unknown: done iff the identity is gone from the primary
    (then its event is recorded); still there once its commit can no longer write, never
    done."""
    young = await _commit_may_still_write(rt, item)
    primary = await rt.management.get_user(item.primary, rt.tenant.budget())
    if item.identity in identities_of(primary):
        await _undone(rt, item, report, young=young, never=report.not_unlinked)
        return
    report.unlinked.append(item.primary)
    log_event("unlink_settled", sub=item.primary, secondary=item.identity.full_id)
    await _finish_settled(rt, item)


async def _undone(
    rt: Runtime, item: WorkItem, report: Report, *, young: bool, never: list[str]
) -> None:
    """The item's write is not there. While its commit may still write it (`young`), it waits
    for a later pass; after, it never happened: noted in `never`, and the item dropped."""
    if young:
        report.waiting.append(item.primary)
        return
    never.append(item.primary)
    await work.forget(rt.attempts.store, item.key)


async def _finish_settled(rt: Runtime, item: WorkItem) -> None:
    """Drop the settled item, and record its write's event in the same step if the commit
    did not (its answer was lost, or it stopped before recording)."""
    commit = commit_of_work(item.key)
    if item.event is None or commit is None or hash_tag(commit) is None:
        await work.forget(rt.attempts.store, item.key)
        return
    with contextlib.suppress(StoreUnavailable):  # the item stays: settled again, and recorded
        await rt.attempts.store.record(
            [outbox_write(commit, item.event)],
            delete=item.key,
            unlist=(work_index(item.key), item.key),
        )
        rt.events_recorded.set()


async def _commit_may_still_write(rt: Runtime, item: WorkItem) -> bool:
    """The item's commit still has its outcome key: it may be writing, or a link whose answer
    was lost may still land. Items replayed from the audit file have no commit to ask about."""
    commit = commit_of_work(item.key)
    if commit is None:
        return False
    return await rt.attempts.outcome(commit) is not None


async def reconcile(rt: Runtime, *, scan: bool = False) -> Report:
    """One pass over the pending items in the store (at most `work.PASS_LIMIT` per group)."""
    report = Report()
    store = rt.attempts.store
    for key in await work.pending(store, scan=scan):
        if not await work.lease(store, key):
            continue  # another replica has it
        try:
            item = await work.read(store, key)
            if item is not None:
                await settle(rt, item, report)
        except LinkError as error:
            report.fail(key, error)
            log_event("merge_still_pending", code=error.code.value)
        except StoreUnavailable:
            raise  # the pass ends; the next one starts over
        except Exception:
            # A defect met on one item must not hold up every item after it, pass after pass.
            report.failed.append(key)
            logger.exception("reconcile: an item could not be settled; it stays pending")
        finally:
            await work.release(store, key)
    return report


async def run_in_background(rt: Runtime, *, interval: float = INTERVAL) -> None:
    """Reconcile every `interval` seconds until cancelled; an outage only delays it.

    Audit lines the file refused are moved to it too: on the first pass (lines a replica
    that stopped may have left), then whenever this process left some."""
    first = True
    while True:
        await asyncio.sleep(interval)
        try:
            if first or rt.audit.owed:
                await rt.audit.flush()
            first = False
            await rt.store_clock.offset()  # measured again (once per MEASURE_EVERY)
            await reconcile(rt)
        except StoreUnavailable:
            logger.warning("reconcile: the store is unavailable; retrying later")
        except Exception:
            # The loop outlives any one pass: pending work on this replica waits for it.
            logger.exception("reconcile: the pass failed; retrying later")


# The actions whose snapshot lines are merges owed (a link, and a suggestion accepted).
REPLAYED_ACTIONS = frozenset({"link", "suggest"})
# An attempt line whose merge is one of these finished its snapshot's work; any other (the
# merge `pending`, or `null`: the link failed, or its outcome is unknown) leaves it owed.
MERGE_DONE = frozenset({"applied", "none"})


def snapshots_to_replay(lines: Iterable[str]) -> list[WorkItem]:
    """Work items rebuilt from an audit file: each snapshot whose attempt did not record its
    merge as applied or not needed (no attempt line; one whose merge is pending; one whose
    link failed or whose outcome is unknown). Settling reads the tenant: merged iff linked.

    Lines are taken in the order of their `time` (lines the file refused for a while reach it
    late, from the store), then of the file."""
    entries: list[dict[str, Any]] = []
    for line in lines:
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue
        # A suggestion's lines name the surviving account `primary`, as a link's do.
        if isinstance(entry, dict) and entry.get("action") in REPLAYED_ACTIONS:
            entries.append(entry)
    entries.sort(key=lambda entry: str(entry.get("time", "")))
    snapshots: dict[tuple[str, str], dict[str, Any]] = {}
    done: set[tuple[str, str]] = set()
    for entry in entries:
        pair = (str(entry.get("primary")), str(entry.get("secondary")))
        if entry.get("event") == "snapshot":
            snapshots[pair] = entry
            done.discard(pair)
        elif entry.get("event") == "attempt" and entry.get("merge") in MERGE_DONE:
            done.add(pair)
    items = []
    for pair, entry in snapshots.items():
        if pair in done or not isinstance(entry.get("secondary_metadata"), dict):
            continue
        provider, _, user_id = pair[1].partition("|")
        identity = Identity(provider, user_id, str(entry.get("connection")))
        # Replayed items are old by nature: settle them now, whatever their age.
        items.append(
            WorkItem(
                "replay:" + "|".join(pair), pair[0], identity, entry["secondary_metadata"], 0.0
            )
        )
    return items


async def replay(rt: Runtime, items: Iterable[WorkItem]) -> Report:
    report = Report()
    for item in items:
        try:
            await settle(rt, item, report)
        except LinkError as error:
            report.fail(item.key, error)
    return report
