"""linker.core.id_tokens: `key_id` from the header alone, the RS256 signature, and the claims
OpenID Connect Core 3.1.3.7 asks to check."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from linker.core.claims import LEEWAY
from linker.core.id_tokens import (
    TokenRejected,
    check_common_claims,
    check_login_claims,
    issued_at,
    key_id,
    verify_rs256,
)


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


NOW = 1_800_000_000.0
ISSUER = "https://tenant.example.com/"


def id_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "linker",
        "sub": "github|42",
        "iat": NOW,
        "exp": NOW + 60,
        "nonce": "n-1",
        "auth_time": NOW - 1,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_token_signed_by_the_tenant_verifies(rsa_key: RSAKey) -> None:
    token = jwt.encode({"alg": "RS256", "kid": "key-1"}, id_claims(), rsa_key)
    assert verify_rs256(token, KeySet([rsa_key]))["sub"] == "github|42"


def test_a_token_signed_another_way_is_rejected(rsa_key: RSAKey, other_rsa_key: RSAKey) -> None:
    foreign = jwt.encode({"alg": "RS256", "kid": "key-1"}, id_claims(), other_rsa_key)
    hs = jwt.encode({"alg": "HS256"}, id_claims(), OctKey.import_key("s" * 32))
    for token in (foreign, hs, "junk"):
        with pytest.raises(TokenRejected):
            verify_rs256(token, KeySet([rsa_key]))


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"iss": "https://other.example.com/"}, "another tenant"),
        ({"aud": "someone-else"}, "another client"),
        ({"aud": ["x", "linker"], "azp": "x"}, "'azp' names another client"),
        ({"exp": NOW - LEEWAY - 1}, "expired"),
        ({"iat": NOW + LEEWAY + 1}, "issued in the future"),
        ({"nbf": NOW + LEEWAY + 1}, "not valid yet"),
        ({"nbf": "later"}, "'nbf'"),
        ({"exp": float("nan")}, "'exp'"),
        ({"sub": ""}, "'sub' is missing"),
    ],
)
def test_common_claims_are_checked(overrides: dict[str, Any], says: str) -> None:
    with pytest.raises(TokenRejected, match=says):
        check_common_claims(id_claims(**overrides), issuer=ISSUER, audience="linker", now=NOW)


def test_an_access_tokens_azp_names_its_client() -> None:
    claims = id_claims(aud=["api", "linker"], azp="app")
    check_common_claims(claims, issuer=ISSUER, audience="linker", now=NOW, id_token=False)
    assert issued_at(claims) == NOW


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"aud": ["linker", "other"]}, "several audiences"),
        ({"nonce": "n-2"}, "'nonce'"),
        ({"nonce": None}, "'nonce'"),
        ({"auth_time": NOW - 100 - LEEWAY - 1}, "older than this transaction"),
        ({"auth_time": None}, "'auth_time'"),
    ],
)
def test_the_nested_login_is_this_transactions_and_fresh(
    overrides: dict[str, Any], says: str
) -> None:
    with pytest.raises(TokenRejected, match=says):
        check_login_claims(id_claims(**overrides), nonce="n-1", not_before=NOW - 100)
    check_login_claims(id_claims(), nonce="n-1", not_before=NOW - 100)
