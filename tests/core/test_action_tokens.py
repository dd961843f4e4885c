"""linker.core.action_tokens: the start, result and commit tokens shared with the Action, read
and made as pure functions of the token, the secrets and `now`."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from linker.core.action_tokens import (
    COMMIT_AUDIENCE,
    COMMIT_TOKEN_MAX_LIFETIME,
    RESULT_TOKEN_LIFETIME,
    START_TOKEN_MAX_AGE,
    TOKEN_VERSION,
    CommitRejected,
    Result,
    decode_commit_token,
    decode_start_token,
    encode_result_token,
)
from linker.core.claims import LEEWAY
from linker.core.errors import Code, LinkError
from linker.core.identities import Identity
from linker.core.secret import Secret

KEY = "k" * 32
OLD_KEY = "o" * 32
SECRETS = [Secret(KEY), Secret(OLD_KEY)]
DOMAIN = "tenant.example.com"
NOW = 1_800_000_000.0
GOOGLE = {"provider": "google-oauth2", "user_id": "111", "connection": "google-oauth2"}
GITHUB = {"provider": "github", "user_id": 42, "connection": "github"}


def sign(claims: dict[str, Any], key: str = KEY, alg: str = "HS256") -> str:
    return jwt.encode({"alg": alg}, claims, OctKey.import_key(key), algorithms=[alg])


def start_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "google-oauth2|111",
        "iss": DOMAIN,
        "iat": int(NOW) - 5,
        "exp": int(NOW) + 295,
        "jti": "jti-1",
        "action": "link",
        "client_id": "app",
        "linker_v": TOKEN_VERSION,
        "requested_connection": "github",
        "id_token_hint": "hint",
        "ip": "203.0.113.7",
        "authentication_methods": ["pwd", 7],
        "enrolled_factors": ["otp"],
        "user": {"email": "a@example.com", "email_verified": True, "identities": [GOOGLE]},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def decode_start(claims: dict[str, Any], key: str = KEY) -> Any:
    return decode_start_token(sign(claims, key), secrets=SECRETS, domain=DOMAIN, now=NOW)


def test_a_start_token_reads_into_a_request() -> None:
    req = decode_start(start_claims())
    assert (req.sub, req.action, req.client_id, req.jti) == (
        "google-oauth2|111",
        "link",
        "app",
        "jti-1",
    )
    assert req.requested_connection == "github" and req.requested_identity is None
    assert req.email == "a@example.com" and req.email_verified is True
    assert req.identities == (Identity("google-oauth2", "111", "google-oauth2"),)
    assert req.primary_identity == req.identities[0]
    assert req.authentication_methods == frozenset({"pwd"})  # non-strings are dropped
    assert req.enrolled_factors == ("otp",)
    assert req.issued_at == int(NOW) - 5 and req.expires_at == NOW + 295


def test_a_start_token_signed_with_a_previous_secret_still_reads() -> None:
    assert decode_start(start_claims(), key=OLD_KEY).sub == "google-oauth2|111"


def test_numeric_provider_ids_read_as_strings() -> None:
    req = decode_start(start_claims(user={"identities": [GOOGLE, GITHUB]}))
    assert req.identities[1] == Identity("github", "42", "github")


@pytest.mark.parametrize(
    ("claims", "says"),
    [
        (start_claims(linker_v=1), "another version"),
        (start_claims(jti=None, action=None), "lacks the claims: jti, action"),
        (start_claims(jti=""), "lacks the claims: jti"),
        (start_claims(iss="other.example.com"), "another tenant"),
        (start_claims(exp=int(NOW) - LEEWAY - 1), "expired"),
        (start_claims(iat=int(NOW) + LEEWAY + 5), "issued in the future"),
        (start_claims(nbf=int(NOW) + LEEWAY + 5), "not valid yet"),
        (start_claims(iat="yesterday"), "'iat' is missing or not a number"),
        (start_claims(iat=int(NOW) - START_TOKEN_MAX_AGE - LEEWAY - 1), "too old"),
        (start_claims(action=["link"]), "not a string"),
        (start_claims(user="alice"), "'user' claim is not an object"),
        (start_claims(user={"identities": "github"}), "identities are not a list"),
        (start_claims(user={"identities": [{"provider": "github"}]}), "malformed identity"),
        (start_claims(requested_connection=5), "'requested_connection' claim is not a string"),
    ],
)
def test_a_start_token_with_bad_claims_is_refused(claims: dict[str, Any], says: str) -> None:
    with pytest.raises(LinkError) as refused:
        decode_start(claims)
    assert refused.value.code is Code.INVALID_SESSION_TOKEN
    assert says in refused.value.description


def test_within_the_leeway_a_start_token_still_reads() -> None:
    claims = start_claims(exp=int(NOW) - LEEWAY + 1, iat=int(NOW) - START_TOKEN_MAX_AGE)
    assert decode_start(claims).jti == "jti-1"


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("", "missing"),
        ("not.a.jwt", "malformed"),
        (sign(start_claims(), key="x" * 32), "does not match any configured secret"),
        (sign(start_claims(), alg="HS512"), "not signed with HS256"),
    ],
)
def test_a_start_token_that_does_not_verify_is_refused(token: str, says: str) -> None:
    with pytest.raises(LinkError) as refused:
        decode_start_token(token, secrets=SECRETS, domain=DOMAIN, now=NOW)
    assert refused.value.code is Code.INVALID_SESSION_TOKEN
    assert says in refused.value.description


def test_an_unsigned_start_token_is_refused() -> None:
    header, payload, _ = sign(start_claims()).split(".")
    unsigned = f"eyJhbGciOiJub25lIn0.{payload}."  # {"alg":"none"}
    with pytest.raises(LinkError, match="invalid_session_token"):
        decode_start_token(unsigned, secrets=SECRETS, domain=DOMAIN, now=NOW)
    assert header  # the signed token had a header of its own


def read(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, OctKey.import_key(KEY), algorithms=["HS256"]).claims)


def test_a_result_token_carries_the_outcome_for_continue() -> None:
    identity = Identity("github", "42", "github")
    token, jti = encode_result_token(
        Result(status="pending", identity=identity, commit="c-1"),
        sub="google-oauth2|111",
        state="outer",
        secret=Secret(KEY),
        issuer="https://linker.example.com",
        now=NOW,
    )
    claims = read(token)
    assert claims["jti"] == jti and claims["state"] == "outer" and claims["commit"] == "c-1"
    assert claims["exp"] - claims["iat"] == RESULT_TOKEN_LIFETIME + LEEWAY  # skew-tolerant
    assert claims["result"] == {
        "status": "pending",
        "error": None,
        "error_description": None,
        "identity": {"provider": "github", "user_id": "42", "connection": "github"},
    }


def test_a_refusal_becomes_a_result_with_its_status() -> None:
    denied = Result.from_error(LinkError(Code.SUB_MISMATCH, "another user"))
    failed = Result.from_error(LinkError(Code.UPSTREAM_UNAVAILABLE, "later"))
    assert (denied.status, denied.error) == ("denied", "sub_mismatch")
    assert (failed.status, failed.error) == ("failed", "upstream_unavailable")
    token, _ = encode_result_token(
        denied, sub="s", state="st", secret=Secret(KEY), issuer="i", now=NOW
    )
    assert "commit" not in read(token)


def commit_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "aud": COMMIT_AUDIENCE,
        "linker_v": TOKEN_VERSION,
        "sub": "google-oauth2|111",
        "commit": "c-1",
        "jti": "j-1",
        "iat": int(NOW),
        "exp": int(NOW) + 30,
        "user": {
            "identities": [GOOGLE],
            "user_metadata": {"theme": "dark"},
            "app_metadata": None,
        },
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_a_commit_token_reads_into_a_request_with_the_primary_profile() -> None:
    req = decode_commit_token(sign(commit_claims()), secrets=SECRETS, now=NOW)
    assert (req.sub, req.commit, req.jti) == ("google-oauth2|111", "c-1", "j-1")
    assert req.user.identities == (Identity("google-oauth2", "111", "google-oauth2"),)
    assert req.user.user_metadata == {"theme": "dark"} and req.user.app_metadata == {}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    ("claims", "says"),
    [
        (commit_claims(aud=None), "not a commit token"),
        (commit_claims(aud="linker:result"), "not a commit token"),
        (commit_claims(linker_v=1), "another version"),
        (commit_claims(exp=int(NOW) + COMMIT_TOKEN_MAX_LIFETIME + 1), "longer than"),
        (commit_claims(exp=int(NOW) - LEEWAY - 1, iat=int(NOW) - LEEWAY - 20), "expired"),
        (commit_claims(commit=None), "lacks sub, commit or jti"),
        (commit_claims(jti=""), "empty sub, commit or jti"),
        (commit_claims(user={"identities": "x"}), "no user with identities"),
        (commit_claims(user={"identities": [{"connection": "x"}]}), "malformed identity"),
        (commit_claims(user={"identities": [], "user_metadata": []}), "not an object"),
        (commit_claims(user={"identities": [], "app_metadata": nested(40)}), "too deeply"),
    ],
)
def test_a_commit_token_with_bad_claims_is_refused(claims: dict[str, Any], says: str) -> None:
    with pytest.raises(CommitRejected, match=says):
        decode_commit_token(sign(claims), secrets=SECRETS, now=NOW)


def test_a_result_token_is_not_a_commit_token() -> None:
    token, _ = encode_result_token(
        Result(status="linked"), sub="s", state="st", secret=Secret(KEY), issuer="i", now=NOW
    )
    with pytest.raises(CommitRejected, match="not a commit token"):
        decode_commit_token(token, secrets=SECRETS, now=NOW)


def test_a_missing_or_foreign_commit_token_is_refused() -> None:
    with pytest.raises(CommitRejected, match="missing"):
        decode_commit_token("", secrets=SECRETS, now=NOW)
    with pytest.raises(CommitRejected, match="does not match"):
        decode_commit_token(sign(commit_claims(), key="z" * 32), secrets=SECRETS, now=NOW)
