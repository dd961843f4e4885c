"""The `linker_txn_*` cookie that binds a transaction to the browser that started it.

One cookie per transaction, named after a digest of its id, so two attempts in two tabs of
one browser do not overwrite each other. The value is the transaction id signed with the
action secrets (any of them verifies, the first signs), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from itsdangerous import BadSignature, URLSafeTimedSerializer

from linker.core.secret import Secret

COOKIE_PREFIX = "linker_txn_"
COOKIE_PATH = "/link"
_SALT = "linker.txn-cookie"


def cookie_name(txn_id: str) -> str:
    return COOKIE_PREFIX + hashlib.sha256(txn_id.encode()).hexdigest()[:16]


class TxnCookies:
    """Signs and checks transaction cookies."""

    def __init__(self, secrets: Sequence[Secret], *, max_age: int) -> None:
        # itsdangerous signs with the last key and verifies with any of them.
        keys = [s.reveal() for s in reversed(secrets)]
        self._serializer = URLSafeTimedSerializer(keys, salt=_SALT)
        self.max_age = max_age

    def value(self, txn_id: str) -> str:
        return self._serializer.dumps(txn_id)

    def matches(self, cookie_value: str | None, txn_id: str) -> bool:
        """True when the browser's cookie was issued for exactly this transaction."""
        if not cookie_value:
            return False
        try:
            bound = self._serializer.loads(cookie_value, max_age=self.max_age)
        except BadSignature:
            return False
        return isinstance(bound, str) and hmac.compare_digest(bound.encode(), txn_id.encode())
