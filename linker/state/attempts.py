"""What the steps of an attempt remember, and for how long, on top of `linker.state.store`.

Keys: `jti:` (start tokens already used), `txn:` (a nested login in flight, bound to one
browser), `pending:` (each user's transactions, newest last), `prepared:` (verified, waiting for
the Action's commit), `outcome:` (the final answer for a commit id, so a retried commit gets the
same answer and writes nothing twice).

Each method is one store operation, so a link flow costs seven Redis commands: start 2
(`first_use`, `open`), callback 2 (`take`, `prepare`), commit 3 (`claim`, the work item of
`linker.steps.reconcile`, `record`, which also writes the write's event to the outbox of
`linker.steps.delivery`: no command of its own); two more for the page that shows the account
(`linker.steps.confirm`), and two for the user's merge lock (`linker.steps.merging`) when there is
metadata to merge. Keys and their hash tags: `linker.state.keys`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, Final, Literal

from linker.core.action_tokens import Result
from linker.core.errors import Signal
from linker.core.events import Event, Pending
from linker.core.identities import Identity
from linker.core.pkce import random_token
from linker.core.transaction import Transaction
from linker.state.keys import (
    claimed_key,
    event_index,
    event_key,
    outcome_key,
    pending_index,
    prepared_key,
    txn_key,
    work_index,
)
from linker.state.store import Store, StoreUnavailable, Write, hash_tag

# A transaction is kept a little past its own expiry so that a late callback is told
# "expired" rather than "not found"; the transaction's `expires_at` is what is enforced.
GRACE_SECONDS = 300
PREPARED_TTL = 120
OUTCOME_TTL = 120
# The outcome key's value while a commit writes (and what `outcome` answers then).
IN_PROGRESS: Final = "in_progress"
# A claim whose answer was lost is asked again this many times in all, pausing 50, 100 ms.
CLAIM_ASKS = 3
CLAIM_PAUSE = 0.05
# An event waits in the outbox until it is delivered or discarded: far longer than the retry
# schedule, so that a parked one is still there when an operator looks.
EVENT_TTL = 365 * 24 * 3600


def outbox_write(commit: str, event: Event) -> Write:
    """The outbox entry of the event of `commit`'s write, listed in its group's index."""
    key = event_key(commit)
    return Write(key, Pending(event).dumps(), EVENT_TTL, index=event_index(key))


class ForAnotherUser(Signal):
    """The prepared attempt is another user's: it was left as it was, for its own."""


_OWNER_FIRST = '{"primary":'


def owned_by(primary: str) -> str:
    """How a stored attempt of `primary`'s begins: `claim` compares it in the store, which
    need not parse the attempt. A JSON string ends at its first unescaped quote, so no other
    id's attempt begins so."""
    return _OWNER_FIRST + json.dumps(primary) + ","


@dataclass(frozen=True)
class Prepared:
    """An attempt the callback verified: everything the commit step needs, and nothing secret."""

    commit: str
    action: str
    primary: str
    identity: Identity  # link: the secondary to link; unlink: the identity to remove
    connection: str
    client_id: str
    ip: str | None
    created_at: float

    def dumps(self) -> str:
        rest = {k: v for k, v in self.__dict__.items() if k != "primary"}
        rest["identity"] = self.identity.to_claim()
        return owned_by(self.primary) + json.dumps(rest, separators=(",", ":"))[1:]

    @classmethod
    def loads(cls, raw: str) -> Prepared:
        data: dict[str, Any] = json.loads(raw)
        return cls(**{**data, "identity": Identity(**data["identity"])})


def result_loads(data: dict[str, Any]) -> Result:
    identity = data.get("identity")
    return Result(
        status=data["status"],
        error=data.get("error"),
        error_description=data.get("error_description"),
        identity=Identity(**identity) if identity else None,
        primary=data.get("primary"),
    )


@dataclass(frozen=True)
class Recorded:
    """A commit's outcome as it was recorded: for whom, and what it answered."""

    primary: str
    result: Result


class Attempts:
    """The attempts of one deployment, in its store."""

    def __init__(self, store: Store, *, max_pending_per_user: int) -> None:
        self.store = store
        self._max_pending = max_pending_per_user

    async def first_use(self, jti: str, *, ttl: float) -> bool:
        """True the first time a start token's `jti` is seen; it is remembered for `ttl`."""
        key = _jti_key(jti)
        # Marked with a value of this call's own: a write retried after its answer was lost
        # (a cluster failing over) finds its own mark, not a "used" one.
        mark = secrets.token_urlsafe(6)
        return await self.store.put(key, mark, ttl, only_new=True, starting=True) or (
            await self.store.get(key) == mark
        )

    async def unspend(self, jti: str) -> None:
        """Forget that a start token was used, when its start opened nothing (the store had
        no room): the same start URL may be tried again. Failing to is harmless: the user
        then starts again from the application."""
        with contextlib.suppress(StoreUnavailable):
            await self.store.delete(_jti_key(jti))

    async def open(self, txn: Transaction, *, ttl: float) -> None:
        """Store a transaction; beyond the per-user limit, that user's oldest one goes.

        The per-user index lists the transactions' own keys, so it holds no copy of them. Only
        the ones still there count: one taken leaves the index at its user's next `open`.
        """
        await self.store.put_tracked(
            txn_key(txn.id),
            txn.dumps(),
            ttl + GRACE_SECONDS,
            index=pending_index(txn.id, txn.primary_user_id),
            keep=self._max_pending,
            index_ttl=ttl,
            starting=True,
        )

    async def take(self, txn_id: str) -> Transaction | None:
        """The transaction, once: a second take finds nothing."""
        raw = await self.store.take(txn_key(txn_id))
        return None if raw is None else Transaction.loads(txn_id, raw)

    async def prepare(self, attempt: Prepared) -> None:
        await self.store.put(prepared_key(attempt.commit), attempt.dumps(), PREPARED_TTL)

    async def claim(self, commit: str, primary: str) -> Prepared | None:
        """Take the prepared attempt of `commit` if it is `primary`'s, and mark its outcome as
        in progress, in one step; None when there is none. Raises `ForAnotherUser`.

        The claim is made under a token of this call's own: when the store's answer is lost
        (the connection dropped after the store ran it), it is asked again, and the store
        answers the attempt it gave this token, rather than "in progress" with no one
        writing. Raises `StoreUnavailable` after `CLAIM_ASKS` asks."""
        owner = owned_by(primary)
        holder = (claimed_key(commit), random_token())
        for ask in range(CLAIM_ASKS):
            try:
                raw = await self._claim(commit, owner, holder)
                break
            except StoreUnavailable:
                if ask + 1 == CLAIM_ASKS:
                    raise
                await asyncio.sleep(CLAIM_PAUSE * 2**ask)
        if raw is None or raw.startswith(owner):
            return None if raw is None else Prepared.loads(raw)
        if raw.startswith(_OWNER_FIRST) or Prepared.loads(raw).primary != primary:
            raise ForAnotherUser
        # Prepared by a replica still on the release before the owner came first (during a
        # rolling upgrade, for PREPARED_TTL at most): its owner was checked here, and it is
        # claimed only if it is still exactly the value checked.
        checked = raw
        raw = await self._claim(commit, checked, holder)
        if raw is not None and not raw.startswith(checked):
            raise ForAnotherUser
        return None if raw is None else Prepared.loads(raw)

    async def _claim(self, commit: str, if_starts_with: str, holder: tuple[str, str]) -> str | None:
        return await self.store.claim(
            prepared_key(commit),
            outcome_key(commit),
            IN_PROGRESS,
            OUTCOME_TTL,
            if_starts_with=if_starts_with,
            holder=holder,
        )

    async def record(
        self,
        commit: str,
        primary: str,
        result: Result,
        *,
        finished: str | None = None,
        event: Event | None = None,
        owed: Write | None = None,
    ) -> None:
        """The final answer for `commit`; `finished`, a key of work now done, is deleted in the
        same step (so a failure here leaves both as they were, the work still owed). `event`
        goes to the outbox in that step too, and `owed` (work still owed, rewritten to say its
        event is recorded) is rewritten, if it is still there."""
        raw = json.dumps({"primary": primary, "result": result.to_claim()}, separators=(",", ":"))
        if hash_tag(commit) is None:
            # A commit id of the release before tags no slot: its keys could not share one.
            event = owed = None
        if event is None and owed is None:
            if finished is None:
                await self.store.put(outcome_key(commit), raw, OUTCOME_TTL)
            else:
                index = work_index(finished)
                await self.store.replace(
                    finished, outcome_key(commit), raw, OUTCOME_TTL, index=index
                )
            return
        steps = [Write(outcome_key(commit), raw, OUTCOME_TTL)]
        steps += [outbox_write(commit, event)] if event is not None else []
        steps += [owed] if owed is not None else []
        await self.store.record(
            steps,
            delete=finished or "",
            unlist=(work_index(finished), finished) if finished else ("", ""),
        )

    async def outcome(self, commit: str) -> Recorded | Literal["in_progress"] | None:
        """The outcome as recorded, `IN_PROGRESS` while a commit writes, or None (unknown,
        or expired)."""
        raw = await self.store.get(outcome_key(commit))
        if raw is None:
            return None
        if raw == IN_PROGRESS:
            return IN_PROGRESS
        data = json.loads(raw)
        return Recorded(primary=data["primary"], result=result_loads(data["result"]))


def _jti_key(jti: str) -> str:
    # A digest keeps the key short whatever the Action sent (one per start, in memory).
    digest = hashlib.blake2b(jti.encode(), digest_size=12).digest()
    return "jti:" + base64.urlsafe_b64encode(digest).decode()
