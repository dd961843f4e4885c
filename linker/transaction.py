"""A linking transaction: what `/link/start` remembers for `/link/callback`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from linker.tokens import Identity


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
    existing: Identity | None = None  # link: already linked, signing in again for new scopes

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | bytes) -> Transaction:
        data: dict[str, Any] = json.loads(raw)
        target, existing = data.pop("target", None), data.pop("existing", None)
        return cls(
            **data,
            target=Identity(**target) if target else None,
            existing=Identity(**existing) if existing else None,
        )
