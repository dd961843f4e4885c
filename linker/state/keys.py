"""Every key linker keeps in the store, and the hash tag that places it on a Redis Cluster.

A cluster runs one operation on one node, so the keys one operation touches must share a hash
slot: the part of a key between `{` and `}` (its hash tag) picks the slot. The ids linker makes
carry their tag (`tag.random`, see `linker.state.store.tagged`):

- a transaction's id is tagged with a digest of its user, so the transaction and that user's
  index of pending transactions (`pending:`) share a slot, and the index's bound is kept in
  one step;
- a commit id is tagged with one of `WORK_GROUPS` groups, the one its user's digest picks, so
  the prepared attempt, its outcome, its work item, its event (`linker.steps.delivery`) and the
  indexes that list that group's work items and events share a slot. A background pass reads
  the `WORK_GROUPS` indexes, never the whole keyspace; on a cluster the groups spread the work
  over every primary. Every event of one user is listed in one index, in the order the store
  recorded them: the order they are delivered in.

Ids without a tag (made by the release before) keep the keys they always had.
"""

from __future__ import annotations

import base64
import hashlib

from linker.core.pkce import random_token
from linker.state.store import hash_tag, tagged, tagged_id

WORK_GROUPS = 256
WORK_INDEXES = tuple(f"work-index:{{{group:02x}}}" for group in range(WORK_GROUPS))
_LEGACY_WORK_INDEX = "work-index:legacy"


def _user_tag(user_id: str) -> str:
    # 48 bits: users that share one only share a slot, not their bound.
    digest = hashlib.blake2b(user_id.encode(), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode()


def new_txn_id(user_id: str) -> str:
    """A fresh transaction id (the nested login's `state`) that names its user's slot."""
    return tagged_id(_user_tag(user_id), random_token())


def work_group(user_id: str) -> int:
    """The work group of `user_id`'s commits: the same for every commit of theirs."""
    digest = hashlib.blake2b(user_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % WORK_GROUPS


def new_commit_id(user_id: str) -> str:
    """A fresh commit id in the work group of `user_id`, the primary user who survives the
    write: that user's events are listed in one index, in order."""
    return tagged_id(f"{work_group(user_id):02x}", random_token())


def restored_event_key(user_id: str, audit_id: str) -> str:
    """The outbox entry of an event made again from the audit file (`linker events restore`):
    in the group of `user_id`, who survived the write, and the same key however often it is
    restored."""
    return event_key(tagged_id(f"{work_group(user_id):02x}", "restored-" + audit_id))


def txn_key(txn_id: str) -> str:
    return tagged("txn", txn_id)


def pending_index(txn_id: str, user_id: str) -> str:
    """The index of `user_id`'s pending transactions, in the slot of `txn_id`."""
    tag = hash_tag(txn_id)
    return f"pending:{{{tag}}}{user_id}" if tag is not None else "pending:" + user_id


def prepared_key(commit: str) -> str:
    return tagged("prepared", commit)


def outcome_key(commit: str) -> str:
    return tagged("outcome", commit)


def claimed_key(commit: str) -> str:
    """Where a claim keeps the attempt it took, for the one commit request that took it."""
    return tagged("claimed", commit)


def work_key(commit: str) -> str:
    return tagged("work", commit)


def unlink_work_key(commit: str) -> str:
    """An unlink's work item: keys and indexes of their own, which a release that knows only
    merges owed never lists (it would read the item as a link's)."""
    return tagged(_UNLINK_WORK, commit)


def is_unlink_work(key: str) -> bool:
    return key.startswith(UNLINK_WORK_PREFIX)


_UNLINK_WORK = "unlink-work"
UNLINK_WORK_PREFIX = _UNLINK_WORK + ":"
UNLINK_WORK_INDEXES = tuple(f"unlink-work-index:{{{group:02x}}}" for group in range(WORK_GROUPS))


def commit_of_work(key: str) -> str | None:
    """The commit id whose work item is at `key`; None for a key that is no work item's (an
    item replayed from the audit file has no commit)."""
    kind, colon, rest = key.partition(":")
    if kind not in ("work", _UNLINK_WORK) or not colon:
        return None
    tag, brace, tail = rest.removeprefix("{").partition("}")
    return tagged_id(tag, tail) if rest.startswith("{") and brace else rest


def work_index(work: str) -> str:
    """The index that lists the work item at key `work`."""
    kind, _, rest = work.partition(":")
    index = "unlink-work-index" if kind == _UNLINK_WORK else "work-index"
    tag, close, _ = rest.removeprefix("{").partition("}")
    if rest.startswith("{") and close:
        return f"{index}:{{{tag}}}"
    return _LEGACY_WORK_INDEX  # unlink items always have a tag: they are this release's


# Every index a background pass reads: the groups' (merges, then unlinks) and the one of
# untagged commit ids.
ALL_WORK_INDEXES = (*WORK_INDEXES, *UNLINK_WORK_INDEXES, _LEGACY_WORK_INDEX)


EVENT_INDEXES = tuple(f"event-index:{{{group:02x}}}" for group in range(WORK_GROUPS))
PARKED_INDEXES = tuple(f"event-parked:{{{group:02x}}}" for group in range(WORK_GROUPS))
_LEGACY_EVENT_INDEX = "event-index:legacy"
_LEGACY_PARKED_INDEX = "event-parked:legacy"
ALL_EVENT_INDEXES = (*EVENT_INDEXES, _LEGACY_EVENT_INDEX)
ALL_PARKED_INDEXES = (*PARKED_INDEXES, _LEGACY_PARKED_INDEX)


def event_key(commit: str) -> str:
    """The outbox entry of the event `commit` wrote (one write, one event)."""
    return tagged("event", commit)


def event_index(key: str) -> str:
    """The index of pending events that lists the event at key `key`."""
    _, brace, rest = key.partition("{")
    tag, close, _ = rest.partition("}")
    return f"event-index:{{{tag}}}" if brace and close else _LEGACY_EVENT_INDEX


def parked_index(key: str) -> str:
    """The index of parked events that lists the event at key `key` once it is parked."""
    _, brace, rest = key.partition("{")
    tag, close, _ = rest.partition("}")
    return f"event-parked:{{{tag}}}" if brace and close else _LEGACY_PARKED_INDEX
