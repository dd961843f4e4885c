"""What the confirmation page shows of the account about to be linked, from its ID token.

A nested login can complete without the user doing anything (the provider, GitHub say, still
has a session in this browser, perhaps one an attacker signed in): before anything is joined,
the user sees which account it is and chooses. Only what identifies the account is shown, and
the email only in part (the page is one screenshot away from anyone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# Longer values are cut: a name or an address is shown, not stored.
MAX_SHOWN = 80
MAX_PICTURE_URL = 2048


@dataclass(frozen=True)
class ShownAccount:
    connection: str
    name: str | None
    email: str | None  # masked
    picture: str | None  # an https URL, or None


def mask_email(address: str) -> str:
    """`a***e@example.com`: the first and last character of the mailbox, and the domain."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "***"
    shown = local[0] + "***" + (local[-1] if len(local) > 1 else "")
    return f"{shown}@{domain}"[:MAX_SHOWN]


def _text(claims: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:MAX_SHOWN]
    return None


def _picture(value: Any) -> str | None:
    """An https URL with a host, or None: nothing else goes into an `img src`."""
    if not isinstance(value, str) or len(value) > MAX_PICTURE_URL:
        return None
    try:
        parts = urlsplit(value)
        host, _ = parts.hostname, parts.port  # each raises for what it cannot read
    except ValueError:  # such as `https://[oops` or `https://host:port/`
        return None
    if parts.scheme != "https" or not host:
        return None
    return value


def shown_account(claims: Mapping[str, Any], connection: str) -> ShownAccount:
    email = _text(claims, "email")
    return ShownAccount(
        connection=connection[:MAX_SHOWN],
        name=_text(claims, "name", "nickname", "preferred_username"),
        email=mask_email(email) if email else None,
        picture=_picture(claims.get("picture")),
    )
