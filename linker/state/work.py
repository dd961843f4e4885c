"""Pending work in the store: the one owner of work items, their keys, TTL, listing and lease.

A work item is the merge owed to a primary once an identity is linked to it (and the link's
event, until the commit records that). The commit writes it before the link is sent; the
commit or `linker.steps.reconcile` drops it once settled. Every key and index involved is
named here (through `linker.state.keys`), so the steps never touch the raw store for work.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, replace
from typing import Any

from linker.core.events import Event
from linker.core.identities import Identity
from linker.state.keys import ALL_WORK_INDEXES, UNLINK_WORK_PREFIX, is_unlink_work, work_index
from linker.state.store import Store, StoreUnavailable, Write

PREFIX = "work:"
# Pending work outlives any outage worth waiting for; `linker reconcile` finishes it sooner.
TTL = 7 * 24 * 3600
# Only one replica works on an item at a time (a TTL: counted by the store's clock too).
LEASE_SECONDS = 30.0
# A pass reads at most this many items of each work group (the rest wait for the next pass).
PASS_LIMIT = 100


@dataclass(frozen=True)
class WorkItem:
    """The merge owed to `primary` once `identity` is linked to it, and the link's event
    (`linker.steps.delivery`) until the commit records it: settling the link as linked
    records it. With `action` "unlink", the unlink's event only (its snapshot is empty):
    settling the unlink as done records it."""

    key: str
    primary: str
    identity: Identity
    snapshot: dict[str, Any]
    created_at: float
    event: Event | None = None

    @property
    def action(self) -> str:
        """`unlink` for an unlink's item (its key says so), else `link`."""
        return "unlink" if is_unlink_work(self.key) else "link"

    def dumps(self) -> str:
        data = {
            "primary": self.primary,
            "identity": self.identity.to_claim(),
            "snapshot": self.snapshot,
            "created_at": self.created_at,
        }
        if self.event is not None:
            data["event"] = self.event.dumps()
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, key: str, raw: str) -> WorkItem:
        data = json.loads(raw)
        event = data.get("event")
        return cls(
            key=key,
            primary=data["primary"],
            identity=Identity(**data["identity"]),
            snapshot=data["snapshot"],
            created_at=float(data["created_at"]),
            event=Event.loads(event) if isinstance(event, str) else None,
        )

    def announced(self) -> Write:
        """The item rewritten without its event, once the commit recorded that (only if the
        item is still there: reconcile may have settled it first)."""
        return Write(self.key, replace(self, event=None).dumps(), None)


async def owe(store: Store, item: WorkItem) -> None:
    """Record the work before the link is sent (raises `StoreUnavailable`: nothing written)."""
    await store.put(item.key, item.dumps(), TTL, index=work_index(item.key))


async def forget(store: Store, key: str) -> None:
    """Drop finished work and its listing. Failing to is harmless (settling it again changes
    nothing), and must not turn a true result into an error."""
    with contextlib.suppress(StoreUnavailable):
        await store.delete(key, index=work_index(key))


async def pending(store: Store, *, scan: bool = False) -> list[str]:
    """The work items' keys, read from their indexes (never by scanning the keyspace); with
    `scan`, also items an earlier release left unlisted (for the command line)."""
    keys = await store.listed(ALL_WORK_INDEXES, limit=PASS_LIMIT)
    if scan:
        listed = set(keys)
        keys += [key for key in await store.scan(PREFIX) if key not in listed]
        keys += [key for key in await store.scan(UNLINK_WORK_PREFIX) if key not in listed]
    return keys


async def read(store: Store, key: str) -> WorkItem | None:
    """The item at `key`; one settled or expired meanwhile leaves its listing here."""
    raw = await store.get(key)
    if raw is None:
        await forget(store, key)
        return None
    return WorkItem.loads(key, raw)


async def lease(store: Store, key: str) -> bool:
    """Whether this replica may work on `key` now (no other holds it)."""
    return await store.put("lease:" + key, "1", LEASE_SECONDS, only_new=True)


async def release(store: Store, key: str) -> None:
    with contextlib.suppress(StoreUnavailable):
        await store.delete("lease:" + key)
