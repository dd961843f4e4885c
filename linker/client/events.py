"""Receiving linker's events in the application: verify the delivery, read it as a typed event.

linker signs every delivery in the Standard Webhooks format (`webhook-id`, `webhook-timestamp`,
`webhook-signature`); `EventReceiver.verify` checks it with the `standardwebhooks` library (the
signature, and a timestamp within five minutes) and returns one of the event classes below.
Deliveries come at least once: keep `event.id` with the rows you change, and skip an id you
have seen (the repository's docs/recipes/events.md does it in one database transaction).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from linker.client.errors import ClientError

# A delivery is a few hundred bytes; anything far larger is not linker's.
MAX_BODY_BYTES = 64 * 1024


class InvalidEvent(ClientError):
    """The delivery is not a genuine, well-formed linker event: answer it 400.

    `code` is `invalid_signature` (signature, timestamp or headers wrong: not from linker, or
    replayed) or `invalid_event` (signed, but not an event this release knows how to read).
    """


@dataclass(frozen=True)
class IdentityLinked:
    """`identity.linked`: the user `former_user_id` no longer exists; its identity is now one
    of `primary_user_id`'s. Move what you keep under the former id to the primary."""

    id: str
    timestamp: str
    audit_id: str
    primary_user_id: str
    former_user_id: str
    connection: str
    provider: str
    provider_user_id: str


@dataclass(frozen=True)
class IdentityUnlinked:
    """`identity.unlinked`: the identity left `primary_user_id` and is the user `user_id`
    again, with an empty profile."""

    id: str
    timestamp: str
    audit_id: str
    primary_user_id: str
    user_id: str
    connection: str
    provider: str
    provider_user_id: str


@dataclass(frozen=True)
class UserMerged:
    """`user.merged`: suggested linking joined the user who signed in (`former_user_id`) into
    an older account, `primary_user_id`, which survives. Move rows and sessions to it."""

    id: str
    timestamp: str
    audit_id: str
    primary_user_id: str
    former_user_id: str
    connection: str
    provider: str
    provider_user_id: str


@dataclass(frozen=True)
class Ping:
    """`ping`: `linker check` sent it to show that deliveries arrive and verify."""

    id: str
    timestamp: str
    audit_id: str


LinkerEvent = IdentityLinked | IdentityUnlinked | UserMerged | Ping
_TYPES: dict[str, type[LinkerEvent]] = {
    "identity.linked": IdentityLinked,
    "identity.unlinked": IdentityUnlinked,
    "user.merged": UserMerged,
    "ping": Ping,
}


class EventReceiver:
    """Verifies deliveries signed with the `whsec_...` secret given to linker as
    `LINKER_EVENTS_SECRET`."""

    def __init__(self, secret: str) -> None:
        self._webhook = Webhook(secret)

    def verify(self, body: bytes, headers: Mapping[str, str]) -> LinkerEvent:
        """The event a delivery carries; raises `InvalidEvent` for anything else."""
        if len(body) > MAX_BODY_BYTES:
            raise InvalidEvent("invalid_event", "The delivery is larger than any linker event.")
        try:
            self._webhook.verify(body, dict(headers), json_parse=False)
        except WebhookVerificationError as exc:
            raise InvalidEvent("invalid_signature", str(exc)) from None
        except UnicodeError:  # a header byte no UTF-8 spells (servers pass it as a surrogate)
            raise InvalidEvent("invalid_signature", "A signature header is not text.") from None
        return parse_event(body)


def parse_event(body: bytes) -> LinkerEvent:
    """A verified delivery's body as a typed event; raises `InvalidEvent` on a foreign shape."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidEvent("invalid_event", "The delivery is not JSON.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise InvalidEvent("invalid_event", "The delivery is not an event object.")
    kind = _TYPES.get(str(payload.get("type")))
    if kind is None:
        raise InvalidEvent("invalid_event", "The event's type is not one this release knows.")
    fields: dict[str, Any] = {"id": payload.get("id"), "timestamp": payload.get("timestamp")}
    fields.update(payload["data"])
    values: dict[str, str] = {}
    for name in kind.__dataclass_fields__:
        value = fields.get(name)
        if not isinstance(value, str):
            raise InvalidEvent("invalid_event", f"The event's '{name}' is missing or not text.")
        values[name] = value
    return kind(**values)
