"""Events for the application's database: what happened to which user, as data.

When two accounts are linked, the secondary's `user_id` stops existing in the tenant; an
application that keeps rows under it must move them to the primary. linker tells it with one
event per write it made (docs/protocol.md, "Events"). This module is the contract's data: the
event types, their payload and the retry schedule, as pure functions. The outbox that records
an event with the write's outcome is the store's; the delivery is `linker.steps.delivery`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from linker.core.identities import Identity

EventType = Literal["identity.linked", "identity.unlinked", "user.merged", "ping"]
EVENT_TYPES: tuple[EventType, ...] = ("identity.linked", "identity.unlinked", "user.merged", "ping")

# Seconds to wait after the first, second, ... failed attempt: about 27 hours in all, the
# schedule Standard Webhooks senders commonly use. After the last one the event is parked.
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
# A wait is spread by up to this fraction either way, so that replicas and events that failed
# together do not all come back at once.
JITTER = 0.1
# Longest `webhook-id` the contract allows; ids linker makes are far shorter.
MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class Event:
    """One event: `id` is the idempotency key a receiver deduplicates on (`webhook-id`)."""

    id: str
    type: EventType
    time: float
    user_id: str  # the user the event is ordered under: the primary, who survives
    audit_id: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The JSON body, in the Standard Webhooks shape (`type`, `timestamp`, `data`)."""
        return {
            "id": self.id,
            "type": self.type,
            "timestamp": iso_time(self.time),
            "data": {"audit_id": self.audit_id, **self.data},
        }

    def body(self) -> bytes:
        """The bytes that are signed and sent: compact, keys in a fixed order."""
        return json.dumps(self.payload(), separators=(",", ":"), sort_keys=True).encode()

    def dumps(self) -> str:
        """The event as the outbox stores it."""
        return json.dumps(
            [self.id, self.type, self.time, self.user_id, self.audit_id, dict(self.data)],
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, raw: str | bytes) -> Event:
        event_id, kind, time, user_id, audit_id, data = json.loads(raw)
        if kind not in EVENT_TYPES:
            raise ValueError("not an event type of this release")
        return cls(id=event_id, type=kind, time=time, user_id=user_id, audit_id=audit_id, data=data)


def iso_time(seconds: float) -> str:
    """RFC 3339 in UTC with a `Z`, as the Standard Webhooks payload's `timestamp`."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def audit_id_of(commit: str) -> str:
    """The audit record's id for the write of `commit`: a digest, since the commit id itself
    never reaches a log or the application (it names a prepared attempt)."""
    digest = hashlib.blake2b(commit.encode(), digest_size=12, person=b"linker-audit").digest()
    return "aud_" + base64.urlsafe_b64encode(digest).decode()


def event_id(audit_id: str, kind: EventType) -> str:
    """The event's id, made from the audit record's: recording the same outcome twice (a
    retried store step, reconcile settling what a commit already recorded) makes the same
    event, which the outbox and every receiver keep once."""
    return f"evt_{kind.replace('.', '_')}_{audit_id}"[:MAX_ID_LENGTH]


def _identity(identity: Identity) -> dict[str, str]:
    return {
        "connection": identity.connection,
        "provider": identity.provider,
        "provider_user_id": identity.user_id,
    }


def linked(*, primary_user_id: str, secondary: Identity, audit_id: str, time: float) -> Event:
    """`identity.linked`: the secondary user `secondary.full_id` now lives in the primary."""
    return Event(
        id=event_id(audit_id, "identity.linked"),
        type="identity.linked",
        time=time,
        user_id=primary_user_id,
        audit_id=audit_id,
        data={
            "primary_user_id": primary_user_id,
            "former_user_id": secondary.full_id,
            **_identity(secondary),
        },
    )


def unlinked(*, primary_user_id: str, identity: Identity, audit_id: str, time: float) -> Event:
    """`identity.unlinked`: the identity left the primary and is a user of its own again,
    whose id Auth0 makes from the identity (`provider|user_id`)."""
    return Event(
        id=event_id(audit_id, "identity.unlinked"),
        type="identity.unlinked",
        time=time,
        user_id=primary_user_id,
        audit_id=audit_id,
        data={
            "primary_user_id": primary_user_id,
            "user_id": identity.full_id,
            **_identity(identity),
        },
    )


def merged(
    *, primary_user_id: str, signed_in_user_id: str, secondary: Identity, audit_id: str, time: float
) -> Event:
    """`user.merged`: suggested linking joined the user who signed in into an older account,
    which survives; the application's session and rows move to `primary_user_id`."""
    return Event(
        id=event_id(audit_id, "user.merged"),
        type="user.merged",
        time=time,
        user_id=primary_user_id,
        audit_id=audit_id,
        data={
            "primary_user_id": primary_user_id,
            "former_user_id": signed_in_user_id,
            **_identity(secondary),
        },
    )


def from_audit(entry: Mapping[str, Any]) -> Event | None:
    """The event of the write an audit file's `attempt` line records, made again from the line
    alone, with the id it had the first time (both come from the line's `audit_id`): for a
    store that lost its outbox (`linker events restore`). None for a line that records no
    finished write (a refusal, a failure, an unknown outcome, a snapshot, a decline)."""
    if entry.get("event") != "attempt":
        return None
    audit_id, primary, other = entry.get("audit_id"), entry.get("primary"), entry.get("secondary")
    if not (_text(audit_id) and _text(primary) and _text(other)):
        return None
    provider, bar, user_id = str(other).partition("|")
    when = _epoch(entry.get("time"))
    if not (bar and provider and user_id) or when is None:
        return None
    connection = entry.get("connection")
    identity = Identity(provider, user_id, connection if isinstance(connection, str) else "")
    action, status, audit, user = (
        entry.get("action"),
        entry.get("status"),
        str(audit_id),
        str(primary),
    )
    if action == "unlink" and status == "unlinked":
        return unlinked(primary_user_id=user, identity=identity, audit_id=audit, time=when)
    if status != "linked":
        return None
    if action == "link":
        return linked(primary_user_id=user, secondary=identity, audit_id=audit, time=when)
    if action == "suggest" and entry.get("direction") == "into_candidate":
        # The line names the older account as `primary` and the one signed in as `secondary`.
        return merged(
            primary_user_id=user,
            signed_in_user_id=identity.full_id,
            secondary=identity,
            audit_id=audit,
            time=when,
        )
    return None


def _text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 512


def _epoch(value: object) -> float | None:
    """An audit line's `time` (ISO 8601 with its offset) as seconds since the epoch."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def ping(*, audit_id: str, time: float) -> Event:
    """`ping`: sent by `linker check` so an operator sees a signed delivery arrive."""
    return Event(
        id=event_id(audit_id, "ping"), type="ping", time=time, user_id="", audit_id=audit_id
    )


def next_wait(failures: int, schedule: Sequence[float], rng: random.Random) -> float | None:
    """Seconds before the next attempt after `failures` failed ones; None: park the event."""
    if failures < 1 or failures > len(schedule):
        return None
    base = schedule[failures - 1]
    return base * rng.uniform(1 - JITTER, 1 + JITTER)


def format_schedule(waits: Sequence[float]) -> str:
    """Seconds as `parse_schedule` reads them: `5s,5m,30m,2h`, each in its largest whole unit."""
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    return ",".join(
        next(f"{int(w) // size}{unit}" for unit, size in units if int(w) % size == 0) for w in waits
    )


def parse_schedule(text: str) -> tuple[float, ...]:
    """`5s,5m,30m,2h` into seconds; raises ValueError naming the entry it cannot read."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    waits = []
    for entry in (part.strip() for part in text.split(",")):
        number, unit = entry[:-1], entry[-1:]
        if unit not in units or not number.isdigit() or len(number) > 6:
            raise ValueError(f"cannot read {entry[:16]!r}: write waits such as 5s, 5m, 2h or 1d")
        waits.append(float(int(number) * units[unit]))
    if not waits or len(waits) > 30:
        raise ValueError("give between 1 and 30 waits")
    return tuple(waits)


@dataclass(frozen=True)
class Pending:
    """An event in the outbox, and how its delivery goes: `failures` so far, the time
    (`next_at`, seconds since the epoch) before which it is not sent again, the last failure's
    `reason`, and whether it is `parked` (sent again only when an operator replays it)."""

    event: Event
    failures: int = 0
    next_at: float = 0.0
    reason: str = ""
    parked: bool = False

    def dumps(self) -> str:
        return json.dumps(
            {
                "event": self.event.dumps(),
                "failures": self.failures,
                "next_at": self.next_at,
                "reason": self.reason,
                "parked": self.parked,
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, raw: str | bytes) -> Pending:
        data = json.loads(raw)
        return cls(
            event=Event.loads(data["event"]),
            failures=int(data["failures"]),
            next_at=float(data["next_at"]),
            reason=str(data["reason"]),
            parked=bool(data["parked"]),
        )
