"""Pending work: merges not yet written, and links whose outcome was not yet read.

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

from linker.core.errors import LinkError
from linker.core.identities import Identity, identities_of
from linker.core.merge import metadata_patch
from linker.observability import log_event
from linker.runtime import Runtime
from linker.store import StoreUnavailable
from linker.store_keys import ALL_WORK_INDEXES, work_index

WORK_PREFIX = "work:"
# Pending work outlives any outage worth waiting for; `linker reconcile` finishes it sooner.
WORK_TTL = 7 * 24 * 3600
# An item younger than this may belong to a commit still writing it: it is left alone unless
# its link is already there. Longer than a step's budget, so no commit is still in flight.
SETTLE_AFTER = 60.0
# A pass reads at most this many items of each work group (the rest wait for the next pass).
PASS_LIMIT = 100
# Only one replica works on an item at a time.
LEASE_SECONDS = 30.0
# The background loop's period: pending work is first retried within 30 s of the failure.
INTERVAL = 10.0

logger = logging.getLogger("linker.reconcile")


@dataclass(frozen=True)
class WorkItem:
    """The merge owed to `primary` once `identity` is linked to it."""

    key: str
    primary: str
    identity: Identity
    snapshot: dict[str, Any]
    created_at: float

    def dumps(self) -> str:
        return json.dumps(
            {
                "primary": self.primary,
                "identity": self.identity.to_claim(),
                "snapshot": self.snapshot,
                "created_at": self.created_at,
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, key: str, raw: str) -> WorkItem:
        data = json.loads(raw)
        return cls(
            key=key,
            primary=data["primary"],
            identity=Identity(**data["identity"]),
            snapshot=data["snapshot"],
            created_at=float(data["created_at"]),
        )


@dataclass
class Report:
    """What one pass did, for the command line and the tests."""

    merged: list[str] = field(default_factory=list)  # primaries whose merge was written
    not_linked: list[str] = field(default_factory=list)  # links that never happened
    waiting: list[str] = field(default_factory=list)  # left for a later pass
    failed: list[str] = field(default_factory=list)  # the tenant did not answer

    @property
    def pending(self) -> int:
        return len(self.waiting) + len(self.failed)


async def owe_merge(rt: Runtime, commit: str, item: WorkItem) -> None:
    """Record the work before the link is sent (raises `StoreUnavailable`: nothing written)."""
    await rt.attempts.store.put(item.key, item.dumps(), WORK_TTL, index=work_index(item.key))


async def forget(rt: Runtime, key: str, *, index: str = "") -> None:
    """Drop finished work (and its listing). Failing to is harmless (settling it again
    changes nothing), and must not turn a true result into an error."""
    with contextlib.suppress(StoreUnavailable):
        await rt.attempts.store.delete(key, index=index)


async def settle(rt: Runtime, item: WorkItem, report: Report) -> None:
    """Finish one item against the tenant's current state."""
    budget = rt.tenant.budget()
    primary = await rt.management.get_user(item.primary, budget)
    if item.identity not in identities_of(primary):
        if rt.clock() - item.created_at < SETTLE_AFTER:
            report.waiting.append(item.primary)
            return
        report.not_linked.append(item.primary)
        await forget(rt, item.key, index=work_index(item.key))
        return
    patch = metadata_patch(
        primary,
        item.snapshot,
        mode=rt.settings.metadata_merge,
        include_app_metadata=rt.settings.merge_app_metadata,
    )
    if patch:
        await rt.management.update_metadata(item.primary, patch, budget)
    report.merged.append(item.primary)
    log_event("merge_settled", sub=item.primary, secondary=item.identity.full_id)
    await forget(rt, item.key, index=work_index(item.key))


async def pending_keys(rt: Runtime, *, scan: bool = False) -> list[str]:
    """The work items' keys, read from their indexes (never by scanning the keyspace); with
    `scan`, also items an earlier release left unlisted (for the command line)."""
    store = rt.attempts.store
    keys = await store.listed(ALL_WORK_INDEXES, limit=PASS_LIMIT)
    if scan:
        keys += [key for key in await store.scan(WORK_PREFIX) if key not in set(keys)]
    return keys


async def reconcile(rt: Runtime, *, scan: bool = False) -> Report:
    """One pass over the pending items in the store (at most `PASS_LIMIT` per group)."""
    report = Report()
    store = rt.attempts.store
    for key in await pending_keys(rt, scan=scan):
        if not await store.put("lease:" + key, "1", LEASE_SECONDS, only_new=True):
            continue  # another replica has it
        try:
            raw = await store.get(key)
            if raw is None:  # settled or expired: its listing goes
                await forget(rt, key, index=work_index(key))
            else:
                await settle(rt, WorkItem.loads(key, raw), report)
        except LinkError as error:
            report.failed.append(key)
            log_event("merge_still_pending", code=error.code.value)
        finally:
            await forget(rt, "lease:" + key)
    return report


async def run_in_background(rt: Runtime, *, interval: float = INTERVAL) -> None:
    """Reconcile every `interval` seconds until cancelled; an outage only delays it."""
    while True:
        await asyncio.sleep(interval)
        try:
            await reconcile(rt)
        except StoreUnavailable:
            logger.warning("reconcile: the store is unavailable; retrying later")


def snapshots_to_replay(lines: Iterable[str]) -> list[WorkItem]:
    """Work items rebuilt from an audit file: each snapshot whose attempt did not end with its
    merge written (no attempt line, or one that says the merge is pending)."""
    snapshots: dict[tuple[str, str], dict[str, Any]] = {}
    done: set[tuple[str, str]] = set()
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("action") != "link":
            continue
        pair = (str(entry.get("primary")), str(entry.get("secondary")))
        if entry.get("event") == "snapshot":
            snapshots[pair] = entry
            done.discard(pair)
        elif entry.get("event") == "attempt" and entry.get("merge") != "pending":
            done.add(pair)
    items = []
    for pair, entry in snapshots.items():
        if pair in done or not entry.get("secondary_metadata"):
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
        except LinkError:
            report.failed.append(item.key)
    return report
