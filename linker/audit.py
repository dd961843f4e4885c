"""The audit trail: one JSON line per finished attempt, on `linker.audit` and optionally a file.

A link discards the secondary user's metadata at Auth0, so its full `user_metadata` and
`app_metadata` are kept here: whatever the merge mode, the data can be restored. They are
written before the link (a `snapshot` line) as well as with the outcome (the `attempt` line),
so a crash between the two cannot lose them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from linker.logs import JsonLine

audit_log = logging.getLogger("linker.audit")


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


class Audit:
    """Writes audit records; the file, when set, gets one line per record, appended."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path  # None: the audit log only
        self._lock = threading.Lock()

    def write(self, record: AuditRecord, *, when: float) -> None:
        entry = {"time": datetime.fromtimestamp(when, UTC).isoformat(), **_shallow(record)}
        audit_log.info(JsonLine(entry))
        if self.path is not None:
            line = json.dumps(entry, sort_keys=True, default=str)
            with self._lock, _open_private(self.path) as out:
                out.write(line + "\n")


def _shallow(record: AuditRecord) -> dict[str, Any]:
    """The record's fields (`asdict` would deep-copy the metadata for nothing)."""
    return {name: getattr(record, name) for name in _FIELDS}


_FIELDS = tuple(f.name for f in fields(AuditRecord))


def _open_private(path: Path) -> TextIO:
    """Open for appending; a new file is created readable by its owner only (0600), since
    it holds users' metadata. An existing file keeps the mode its owner gave it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8")
