"""A linking transaction: what `/link/start` remembers for `/link/callback`."""

from __future__ import annotations

import json
from dataclasses import astuple, dataclass, fields
from typing import Any

from linker.core.identities import Identity


@dataclass(frozen=True)
class Transaction:
    """One nested login in flight. `id` is the nested `state`; it is never logged whole."""

    id: str
    action: str
    primary_user_id: str
    primary_email: str | None
    client_id: str
    connection: str
    connection_scope: str | None
    outer_state: str
    nonce: str
    code_verifier: str
    ip: str | None
    created_at: float
    expires_at: float
    target: Identity | None = None  # unlink: the identity to remove
    already_linked: Identity | None = None  # link: already linked, signing in again for new scopes

    def dumps(self) -> str:
        """A JSON array in field order, without the id (the store's key holds it): every
        pending attempt carries one, so it carries no key names."""
        values: list[Any] = [getattr(self, name) for name in _STORED]
        values = [astuple(v) if isinstance(v, Identity) else v for v in values]
        while values and values[-1] is None:  # optional fields at the end: most are absent
            values.pop()
        return json.dumps(values, separators=(",", ":"))

    @classmethod
    def loads(cls, txn_id: str, raw: str | bytes) -> Transaction:
        names = _NAMES
        values: list[Any] = [txn_id, *json.loads(raw)]
        values += [None] * (len(names) - len(values))
        data = dict(zip(names, values, strict=True))
        target, already_linked = data.pop("target"), data.pop("already_linked")
        return cls(
            **data,
            target=Identity(*target) if target else None,
            already_linked=Identity(*already_linked) if already_linked else None,
        )


_NAMES = [f.name for f in fields(Transaction)]
_STORED = _NAMES[1:]  # the id is the store's key
