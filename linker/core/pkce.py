"""PKCE (RFC 7636, S256) and the random values an authorization request carries."""

from __future__ import annotations

import base64
import hashlib
import secrets

# 32 random bytes: 256 bits, which token_urlsafe turns into 43 characters, the minimum
# length RFC 7636 allows for a code verifier.
RANDOM_BYTES = 32


def random_token() -> str:
    """A fresh URL-safe random value of 256 bits (state, nonce, code verifier)."""
    return secrets.token_urlsafe(RANDOM_BYTES)


def s256_challenge(code_verifier: str) -> str:
    """The S256 code challenge: BASE64URL(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
