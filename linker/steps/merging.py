"""Writing a metadata merge so that it never undoes anyone else's change.

Auth0's PATCH of a user replaces each top-level key of `user_metadata` / `app_metadata` it is
given. A PATCH carrying every key as an earlier read saw them would put back what an
administrator changed or removed since, and two merges for one user (two tabs) would each
overwrite the other's keys. So a merge is computed from a fresh read of the primary, made just
before it is written, and its PATCH carries only the top-level keys the merge adds or changes
(`linker.core.merge.metadata_patch`); and one merge per user runs at a time, under a short
lock in the store, so that the read and the write of one are never split by the other's.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from linker.core.backoff import Budget
from linker.core.merge import metadata_patch
from linker.core.pkce import random_token
from linker.runtime import Runtime
from linker.state.store import StoreUnavailable

LOCK_PREFIX = "merge-lock:"
# Held across one read and one PATCH, within a step's budget; the lock lives this much longer
# than the budget, so its holder may delete it unchecked, and a crashed one's lapses by itself.
LOCK_MARGIN = 5.0
# How long a commit's merge waits for another merge of the same user (the user is waiting
# too), and how often it looks. Reconcile waits as long as a lock can live.
WAIT_SECONDS = 3.0
POLL_SECONDS = 0.05

logger = logging.getLogger("linker.merging")


def lock_seconds(rt: Runtime) -> float:
    """How long a merge lock lives: past it, its holder has given up (or crashed)."""
    return rt.settings.upstream_budget + LOCK_MARGIN


async def _acquire(rt: Runtime, key: str, mine: str, wait: float) -> bool | None:
    """True when taken, False when another kept it too long, None when the store is down."""
    waited = 0.0
    try:
        while not await rt.attempts.store.put(key, mine, lock_seconds(rt), only_new=True):
            if waited >= wait:
                return False
            await rt.sleep(POLL_SECONDS)
            waited += POLL_SECONDS
    except StoreUnavailable:
        logger.warning("merge lock: the store is unavailable; merging without it")
        return None
    return True


@contextlib.asynccontextmanager
async def one_merge_per_user(
    rt: Runtime, user_id: str, *, wait: float = WAIT_SECONDS
) -> AsyncIterator[bool]:
    """Holds the user's merge lock for the block: yields True when held (or when the store
    cannot be asked: a merge written then is worth more than one owed to a store that is
    down), False when another merge kept it for `wait` seconds."""
    key = LOCK_PREFIX + user_id
    taken = await _acquire(rt, key, random_token(), wait)
    try:
        yield taken is not False
    finally:
        if taken:  # held for less than its time to live: still ours to delete
            with contextlib.suppress(StoreUnavailable):
                await rt.attempts.store.delete(key)


def patch_for(rt: Runtime, primary: dict[str, Any], snapshot: dict[str, Any]) -> dict[str, Any]:
    """The PATCH that merges `snapshot` into `primary` as just read: changed keys only."""
    return metadata_patch(
        primary,
        snapshot,
        mode=rt.settings.metadata_merge,
        include_app_metadata=rt.settings.merge_app_metadata,
    )


async def merge_into(
    rt: Runtime, user_id: str, primary: dict[str, Any], snapshot: dict[str, Any], budget: Budget
) -> bool:
    """Merge `snapshot` into `primary` (read just now, under the user's lock); True when a
    PATCH was sent, False when nothing changed. Raises `LinkError` when it could not be."""
    patch = patch_for(rt, primary, snapshot)
    if not patch:
        return False
    await rt.management.update_metadata(user_id, patch, budget)
    return True
