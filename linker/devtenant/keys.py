"""The tenant's RS256 signing keys: a small ring that rotates like Auth0's.

Rotation adds a new signing key and keeps the previous ones published in the JWKS, so a
token signed just before a rotation still verifies and a client that caches the key set
learns the new `kid` on its next fetch. Only the newest `PUBLISHED_KEYS` stay published.
"""

from __future__ import annotations

import secrets
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

ALGORITHM = "RS256"
PUBLISHED_KEYS = 3  # the signing key and the two before it


class KeyRing:
    def __init__(self) -> None:
        self._keys: list[RSAKey] = []
        self.rotate()

    def rotate(self) -> str:
        """Add a new signing key; return its `kid`."""
        kid = secrets.token_urlsafe(12)
        key = RSAKey.generate_key(
            2048, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM}, private=True
        )
        self._keys = [key, *self._keys][:PUBLISHED_KEYS]
        return kid

    @property
    def kids(self) -> list[str]:
        """Published key ids, newest (the signing key) first."""
        return [str(k.kid) for k in self._keys]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.as_dict(private=False) for k in self._keys]}

    def sign(self, claims: dict[str, Any]) -> str:
        key = self._keys[0]
        return jwt.encode({"alg": ALGORITHM, "typ": "JWT", "kid": key.kid}, claims, key)

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this ring signed; raises `ValueError` otherwise.

        Only the signature: the caller checks the claims with its own clock.
        """
        try:
            decoded = jwt.decode(token, KeySet(list(self._keys)), algorithms=[ALGORITHM])
        except (JoseError, ValueError) as exc:
            raise ValueError(f"invalid token: {exc}") from exc
        return dict(decoded.claims)
