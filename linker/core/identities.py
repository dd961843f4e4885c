"""A user's identities as Auth0 lists them, and the `provider|id` form of a user id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Identity:
    """One identity of a user, as Auth0 lists it (`provider|user_id` is its user id)."""

    provider: str
    user_id: str
    connection: str

    @property
    def full_id(self) -> str:
        return f"{self.provider}|{self.user_id}"

    def to_claim(self) -> dict[str, str]:
        return {"provider": self.provider, "user_id": self.user_id, "connection": self.connection}

    @classmethod
    def from_auth0(cls, raw: Mapping[str, Any]) -> Identity:
        """Read an identity from a start token or a Management API answer."""
        provider, user_id, connection = (
            raw.get("provider"),
            raw.get("user_id"),
            raw.get("connection"),
        )
        if not isinstance(provider, str) or not isinstance(connection, str):
            raise ValueError("identity without provider or connection")
        if not isinstance(user_id, str | int) or isinstance(user_id, bool):
            raise ValueError("identity without user_id")
        # Auth0 gives some providers' ids as numbers (github); ids are strings everywhere else.
        return cls(provider=provider, user_id=str(user_id), connection=connection)


def identities_of(user: Mapping[str, Any]) -> list[Identity]:
    """A Management API user's identities; malformed entries are skipped."""
    found = []
    raw = user.get("identities")
    for item in raw if isinstance(raw, list) else []:
        try:
            found.append(Identity.from_auth0(item))
        except (ValueError, AttributeError):
            continue
    return found


def split_user_id(user_id: str) -> tuple[str, str]:
    """Split `provider|id` at the first `|` only: ids themselves may contain `|`."""
    provider, sep, rest = user_id.partition("|")
    if not sep or not provider or not rest:
        raise ValueError("a user id has the form provider|id")
    return provider, rest
