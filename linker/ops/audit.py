"""The audit trail: one JSON line per finished attempt, on `linker.ops.audit` and optionally a file.

A link discards the secondary user's metadata at Auth0, so its full `user_metadata` and
`app_metadata` are kept here: whatever the merge mode, the data can be restored. They are
written before the link (a `snapshot` line) as well as with the outcome (the `attempt` line),
so a crash between the two cannot lose them.

The file is a disk, and disks fill up, vanish and run out of descriptors. A commit checks
that the file can take lines (`check`: it opens, and there is room) before it claims its
attempt, and refuses with a retryable 503 if not. Once the tenant was written to, a line the
file refuses never changes the answer: it is counted (`linker_audit_failures_total`), logged
once per outage, and kept in the shared store (`audit:` keys) until the file takes it again
(`flush`, from every replica's background loop).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from linker.core.errors import Code, LinkError, Signal
from linker.core.transaction import Transaction
from linker.ops.logs import JsonLine
from linker.state.store import Store, StoreUnavailable

audit_log = logging.getLogger("linker.audit")

# A commit is refused before it claims its attempt when the file's disk has less room than
# this: enough for the two lines of a commit with large metadata, with room to spare.
MIN_FREE_BYTES = 16 * 1024 * 1024
BACKLOG_PREFIX = "audit:"
# Lines the file refused wait this long in the store (as long as pending work does).
BACKLOG_TTL = 7 * 24 * 3600
# At most this many waiting lines are moved to the file per `flush`.
FLUSH_BATCH = 1000


class AuditUnavailable(Signal):
    """The audit file cannot take lines now; the message says why (never a user's data)."""


class Counter(Protocol):
    def count(self, name: str, **labels: str) -> None: ...


@dataclass
class AuditRecord:
    """What happened in one attempt. Fields are filled in as the attempt goes."""

    action: str
    event: str = "attempt"
    client_id: str | None = None
    primary: str | None = None
    connection: str | None = None
    ip: str | None = None
    secondary: str | None = None
    status: str = "failed"
    code: str | None = None
    merge: str | None = None  # link: "applied", "none" (nothing to merge) or "pending"
    secondary_metadata: dict[str, Any] | None = field(default=None)
    # A suggested link merges from the signed-in account into the candidate: "into_candidate".
    direction: str | None = None
    # A digest of the commit's id: the `audit_id` of the write's event (`linker.steps.delivery`).
    audit_id: str | None = None

    @classmethod
    def of_transaction(
        cls, txn: Transaction, ip: str | None, secondary: str | None = None
    ) -> AuditRecord:
        """The record of an attempt a transaction carries, from the browser at `ip`."""
        return cls(
            action=txn.action,
            client_id=txn.client_id,
            primary=txn.primary_user_id,
            connection=txn.connection,
            ip=ip,
            secondary=secondary,
        )


class Audit:
    """Writes audit records; the file, when set, gets one line per record, appended.

    `store` gives the store that keeps the lines the file refused (None: they are only
    logged); `metrics` counts the refusals.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        store: Callable[[], Store] | None = None,
        metrics: Counter | None = None,
        min_free: int = MIN_FREE_BYTES,
    ) -> None:
        self.path = path  # None: the audit log only
        self._store = store
        self._metrics = metrics
        self.min_free = min_free
        self._lock = threading.Lock()
        self._failing = False  # logged once per outage, not once per line
        self._owed = False  # this process left lines in the store
        self._sequence = itertools.count()

    def check(self) -> None:
        """Raise `AuditUnavailable` unless the file opens for appending and its disk has room
        (a refusal is counted, and logged once per outage)."""
        if self.path is None:
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                stats = os.fstatvfs(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            self._refused(reason_of(exc))
            raise AuditUnavailable(reason_of(exc)) from None
        free = stats.f_bavail * stats.f_frsize
        if free < self.min_free:
            reason = f"{free} bytes free on its disk, fewer than {self.min_free}"
            self._refused(reason)
            raise AuditUnavailable(reason)

    def _refused(self, reason: str, **fields: object) -> None:
        if self._metrics is not None:
            self._metrics.count("linker_audit_failures_total")
        if not self._failing:
            self._failing = True
            log_audit("audit_file_failed", path=str(self.path), reason=reason, **fields)

    async def write(self, record: AuditRecord, *, when: float) -> bool:
        """Log the record and append it to the file; False when the file refused it (then it
        waits in the store). Never raises for the file: the caller's answer stands."""
        entry = {"time": datetime.fromtimestamp(when, UTC).isoformat(), **_shallow(record)}
        audit_log.info(JsonLine(entry))
        if self.path is None:
            return True
        line = json.dumps(entry, sort_keys=True, default=str)
        if self._owed:
            await self.flush()  # the lines kept first, so that the file stays in order
        try:
            self._append(line)
        except OSError as exc:
            await self._keep(line, when, reason_of(exc))
            return False
        if self._failing:
            self._failing = False
            log_audit("audit_file_writable", path=str(self.path))
        return True

    def _append(self, *lines: str) -> None:
        assert self.path is not None
        text = "".join(line + "\n" for line in lines)
        with self._lock, _open_private(self.path) as out:
            out.write(text)

    async def _keep(self, line: str, when: float, reason: str) -> None:
        kept = False
        if self._store is not None:
            # Keys sort by time, then by this process's order (lines made within one clock
            # tick), so that `flush` appends them in the order they were made.
            order = next(self._sequence)
            key = f"{BACKLOG_PREFIX}{when:017.6f}:{order:012d}:{secrets.token_hex(6)}"
            with contextlib.suppress(StoreUnavailable):
                await self._store().put(key, line, BACKLOG_TTL)
                kept = self._owed = True
        self._refused(reason, kept_in="store" if kept else "log only")

    @property
    def owed(self) -> bool:
        """This process left lines in the store that the file has not taken yet."""
        return self._owed

    async def flush(self) -> int:
        """Move the lines waiting in the store to the file, oldest first; how many moved.

        Each is taken from the store before it is appended, so two replicas never append
        the same line; one the file refuses again goes back."""
        if self.path is None or self._store is None:
            return 0
        store = self._store()
        moved = 0
        try:
            for key in sorted(await store.scan(BACKLOG_PREFIX))[:FLUSH_BATCH]:
                line = await store.take(key)
                if line is None:
                    continue  # another replica moved it
                try:
                    self._append(line)
                except OSError:
                    await store.put(key, line, BACKLOG_TTL)
                    return moved
                moved += 1
        except StoreUnavailable:
            return moved
        self._owed = False
        return moved


def log_audit(event: str, **fields: object) -> None:
    """An operator's line about the audit file itself (not an audit record)."""
    logging.getLogger("linker").warning(JsonLine({"event": event, **fields}))


def reason_of(exc: OSError) -> str:
    """An OSError as its errno's name and text (`ENOSPC: No space left on device`)."""
    name = errno.errorcode.get(exc.errno or 0, "OSError")
    return f"{name}: {exc.strerror or exc}"


def _shallow(record: AuditRecord) -> dict[str, Any]:
    """The record's fields (`asdict` would deep-copy the metadata for nothing)."""
    return {name: getattr(record, name) for name in _FIELDS}


_FIELDS = tuple(f.name for f in fields(AuditRecord))


def _open_private(path: Path) -> TextIO:
    """Open for appending; a new file is created readable by its owner only (0600), since
    it holds users' metadata. An existing file keeps the mode its owner gave it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8")


def audit_unavailable() -> LinkError:
    """The refusal when the audit file cannot take a line before anything is written."""
    return LinkError(
        Code.UPSTREAM_UNAVAILABLE,
        "Linking is unavailable right now (its audit trail cannot be written); nothing was "
        "changed. Please try again.",
    )
