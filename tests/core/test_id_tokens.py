"""`key_id`: the `kid` read from a token's header alone, before any key is chosen."""

from __future__ import annotations

import base64
import json

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from linker.core.id_tokens import key_id


def _segment(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_the_kid_of_a_signed_token(rsa_key: RSAKey) -> None:
    token = jwt.encode({"alg": "RS256", "kid": "key-1"}, {"sub": "a"}, rsa_key)
    assert key_id(token) == "key-1"


@pytest.mark.parametrize(
    "header",
    [
        b'{"alg": "RS256"}',  # no kid
        b'{"alg": "RS256", "kid": 7}',  # not a string
        b'["kid"]',  # not an object
        b"not json",
        b"[" * 100_000 + b"]" * 100_000,  # nested past the parser's stack
    ],
)
def test_an_unreadable_kid_is_none(header: bytes) -> None:
    assert key_id(f"{_segment(header)}.{_segment(b'{}')}.sig") is None


@pytest.mark.parametrize("token", ["", "...", "%%%.x.y", "\u00e9.x.y"])
def test_a_token_that_is_not_a_jws_is_none(token: str) -> None:
    assert key_id(token) is None


def test_only_the_header_is_read() -> None:
    """A payload that is not even base64 does not matter here: the signature check reads it."""
    header = _segment(json.dumps({"alg": "RS256", "kid": "key-2"}).encode())
    assert key_id(f"{header}.@@not-base64@@.sig") == "key-2"
