"""The `linker_txn_*` cookie that binds a transaction to the browser that started it
(`__Host-linker_txn_*` over https).

One cookie per transaction, named after a digest of its id, so two attempts in two tabs of
one browser do not overwrite each other. The value is the transaction id and a timestamp
signed with the action secrets (any of them verifies, the first signs), compared in constant
time. A signer, not a serializer: the value is one string, and a serializer's JSON and
compression made each sign-and-check cost about 110 us instead of 14.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from linker.core.claims import LEEWAY
from linker.core.secret import Secret

COOKIE_PREFIX = "linker_txn_"
COOKIE_PATH = "/link"
# Over https the cookie is a `__Host-` cookie (RFC 6265bis 4.1.3.2): browsers take it only with
# Secure, Path=/ and no Domain, so a sibling subdomain cannot plant or shadow one for linker.
HOST_PREFIX = "__Host-"
_SALT = "linker.txn-cookie"


# Names and values here are ours (a hex digest, base64url and dots): nothing to quote.
_PLAIN = re.compile(r"[A-Za-z0-9._-]*")


def cookie_name(txn_id: str, *, secure: bool = True) -> str:
    """The transaction's cookie name: `__Host-linker_txn_<digest>` over https (`secure`),
    `linker_txn_<digest>` on plain http, which only a loopback public URL may use."""
    name = COOKIE_PREFIX + hashlib.sha256(txn_id.encode()).hexdigest()[:16]
    return HOST_PREFIX + name if secure else name


def set_cookie(name: str, value: str, *, max_age: int, secure: bool) -> str:
    """A `Set-Cookie` value for a transaction cookie: HttpOnly, SameSite=Lax; Secure on Path=/
    (as a `__Host-` cookie must be) when `secure`, else on COOKIE_PATH. `max_age=0` (with an
    empty value) deletes the cookie. Written out rather than through `http.cookies`, which
    took a third of a response's rendering for two fixed shapes."""
    if not (name and _PLAIN.fullmatch(name) and _PLAIN.fullmatch(value)):
        raise ValueError("a transaction cookie's name and value are plain tokens")
    if name.startswith(HOST_PREFIX) and not secure:
        raise ValueError("a __Host- cookie is Secure")
    attributes = [f"{name}={value}", f"Max-Age={max_age}"]
    if max_age <= 0:  # also for clients that predate Max-Age
        attributes.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    attributes += [f"Path={'/' if secure else COOKIE_PATH}", "HttpOnly", "SameSite=Lax"]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


class TxnCookies:
    """Signs and checks transaction cookies."""

    def __init__(self, secrets: Sequence[Secret], *, max_age: int) -> None:
        # itsdangerous signs with the last key and verifies with any of them.
        keys = [s.reveal() for s in reversed(secrets)]
        self._signer = TimestampSigner(keys, salt=_SALT)
        self.max_age = max_age

    def value(self, txn_id: str) -> str:
        return self._signer.sign(txn_id).decode("ascii")

    def matches(self, cookie_value: str | None, txn_id: str) -> bool:
        """True when the browser's cookie was issued for exactly this transaction."""
        if not cookie_value:
            return False
        try:
            bound = self._signer.unsign(cookie_value, max_age=self.max_age + LEEWAY)
        except SignatureExpired as exc:
            # Signed by a replica whose clock is ahead of this one's: within the leeway, the
            # signature still binds this browser (the transaction's own expiry is checked
            # after it is taken).
            signed = exc.date_signed.timestamp() if exc.date_signed is not None else None
            if signed is None or not 0 < signed - time.time() <= LEEWAY:
                return False
            bound = exc.payload if isinstance(exc.payload, bytes) else b""
        except BadSignature:  # expired, altered, or not one of ours
            return False
        return hmac.compare_digest(bound, txn_id.encode())
