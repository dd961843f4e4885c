"""Every write linker makes to the tenant, in one place, in the order the contract gives.

A link: read the secondary (it must still be a user of its own, at the requested connection,
with nothing linked to it; when it is gone, the primary is read to tell a link already made
from an account deleted); write its metadata snapshot to the audit trail and to the store as
pending work; link; then merge the snapshot into the primary, read afresh, with one PATCH of
only the keys the merge adds or changes (`linker.steps.merging`). A link is never undone: a merge
that cannot be written now stays as pending work, finished later by `linker.steps.reconcile`. A
merge written leaves its work item for the commit step to delete in the same store operation
as it records the outcome. An unlink is one DELETE (its event, when events are sent, held
by a work item until the unlink is known done). A write whose answer is lost is settled by
reading the primary's identities, never by guessing (`ManagementApi._change`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from linker.core import decisions
from linker.core.action_tokens import PrimaryProfile, Result
from linker.core.backoff import Budget
from linker.core.claims import json_depth_ok
from linker.core.errors import Code, LinkError
from linker.core.events import Event
from linker.core.identities import Identity, identities_of
from linker.ops.audit import AuditRecord, audit_unavailable
from linker.ops.observability import log_event
from linker.runtime import Runtime
from linker.state import work
from linker.state.attempts import Prepared
from linker.state.keys import unlink_work_key, work_key
from linker.state.work import WorkItem
from linker.steps.merging import merge_into, one_merge_per_user, patch_for


@dataclass(frozen=True)
class Written:
    """A commit's result, and the key of the work item it finished, if any: the caller deletes
    that item as it records the result (`Attempts.record`). `owed` is the work item still
    owed (a link whose merge is pending), and `event` the write's event: the caller records it
    with the result, and marks it recorded in `owed`."""

    result: Result
    finished: str | None = None
    owed: WorkItem | None = None
    event: Event | None = None


def _snapshot(secondary: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_metadata": secondary.get("user_metadata") or {},
        "app_metadata": secondary.get("app_metadata") or {},
    }


async def link(
    rt: Runtime,
    attempt: Prepared,
    profile: PrimaryProfile,
    budget: Budget,
    record: AuditRecord,
    *,
    event: Callable[[Identity], Event],
) -> Written:
    """Commit step 3 for a link: at most GET secondary, POST identities, PATCH primary.
    `event` makes the link's event (for the linked identity), kept with the work item until
    the outcome is recorded."""
    if any(i.full_id == attempt.identity.full_id for i in profile.identities):
        return Written(Result(status="already_linked", identity=attempt.identity))
    secondary = await rt.management.find_user(attempt.identity.full_id, budget)
    if secondary is None:
        return await _gone(rt, attempt, budget)
    identity = decisions.check_secondary_user(secondary, attempt.identity)
    snapshot = _snapshot(secondary)
    if not json_depth_ok(snapshot):
        raise LinkError(
            Code.MANAGEMENT_API_ERROR, "The other account's metadata is nested too deeply."
        )
    # Nothing to merge into anyone (no metadata, or the merge is off): no lock, read or PATCH.
    may_change = bool(patch_for(rt, {}, snapshot))
    record.secondary_metadata = snapshot
    # (a) The snapshot first: Auth0 discards the secondary's metadata when it links.
    snapshot_line = replace(record, event="snapshot", status="pending")
    if not await rt.audit.write(snapshot_line, when=rt.clock()):
        # Nothing is written to the tenant without its snapshot on file.
        raise audit_unavailable()
    # Without LINKER_EVENTS_URL, nothing would send it: no outbox entry at all.
    linked_event = event(identity) if rt.settings.events_url else None
    item = WorkItem(
        work_key(attempt.commit), attempt.primary, identity, snapshot, rt.clock(), linked_event
    )
    # (b) The link. A lost answer is settled by reading; a refusal leaves nothing written.
    # With the outcome unknown, the work item stays: reconcile merges if the link exists.
    await _owing(rt, item, lambda: rt.management.link(attempt.primary, identity, budget))
    # (c) The merge, from the snapshot, against the primary read afresh (`linker.steps.merging`).
    record.merge = "none"
    if may_change:
        try:
            if await _merge(rt, attempt.primary, snapshot, budget):
                record.merge = "applied"
        except LinkError as error:
            # Linked all the same: the merge stays owed, and reconcile writes it.
            log_event("merge_pending", sub=attempt.primary, code=error.code.value)
            record.merge = "pending"
            linked = Result(status="linked", identity=identity)
            return Written(linked, owed=item, event=linked_event)
    linked = Result(status="linked", identity=identity)
    return Written(linked, finished=item.key, event=linked_event)


async def _gone(rt: Runtime, attempt: Prepared, budget: Budget) -> Written:
    """The secondary is no longer a user of its own (Auth0 deletes it when it is linked). When
    it is linked into this primary already, by another tab's commit or by an earlier commit of
    this one whose recorded outcome the store lost (a failover to a replica that had not
    caught up), the commit token's profile predates it: the primary read afresh says so."""
    primary = await rt.management.find_user(attempt.primary, budget)
    if primary is not None and any(
        i.full_id == attempt.identity.full_id for i in identities_of(primary)
    ):
        return Written(Result(status="already_linked", identity=attempt.identity))
    raise LinkError(Code.IDENTITY_CONFLICT, "The other account no longer exists.")


async def _merge(rt: Runtime, primary_id: str, snapshot: dict[str, Any], budget: Budget) -> bool:
    """Read the primary and PATCH what the merge changes, one merge per user at a time."""
    async with one_merge_per_user(rt, primary_id) as held:
        if not held:
            raise LinkError(Code.UPSTREAM_UNAVAILABLE, "Another merge for this user is running.")
        fresh = await rt.management.get_user(primary_id, budget)
        return await merge_into(rt, primary_id, fresh, snapshot, budget)


async def unlink(
    rt: Runtime,
    attempt: Prepared,
    profile: PrimaryProfile,
    budget: Budget,
    *,
    event: Event | None,
) -> Written:
    """Commit step 3 for an unlink: one DELETE, unless the identity is already gone. With an
    event to send, a work item holds it first, as a link's does: when the DELETE's outcome is
    unknown, reconcile reads the primary and records the event if the identity is gone."""
    if all(i.full_id != attempt.identity.full_id for i in profile.identities):
        raise LinkError(
            Code.IDENTITY_NOT_LINKED, "That identity is not linked to this account any more."
        )
    unlinked = Result(status="unlinked", identity=attempt.identity)
    if event is None:
        await rt.management.unlink(attempt.primary, attempt.identity, budget)
        return Written(unlinked)
    key = unlink_work_key(attempt.commit)
    item = WorkItem(key, attempt.primary, attempt.identity, {}, rt.clock(), event)
    await _owing(rt, item, lambda: rt.management.unlink(attempt.primary, attempt.identity, budget))
    return Written(unlinked, finished=item.key, event=event)


async def _owing(rt: Runtime, item: WorkItem, write: Callable[[], Awaitable[None]]) -> None:
    """`write()`, with `item` owed in the store first: a refusal drops it (nothing was
    written), an unknown outcome leaves it for reconcile, which reads what happened. A store
    that cannot keep it raises `StoreUnavailable`, and nothing is written."""
    await work.owe(rt.attempts.store, item)
    try:
        await write()
    except LinkError as error:
        if error.code is not Code.OUTCOME_UNKNOWN:
            await work.forget(rt.attempts.store, item.key)
        raise
