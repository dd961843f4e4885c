"""The HS256 tokens shared with the Action: the start token in, the result token out, and the
commit token the Action sends back from inside the tenant's login.

Pure functions: each takes the token, the secrets and `now`, and returns data or raises.
Signature first, then claims, with a small leeway for clock skew.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OctKey
from joserfc.jws import JWSRegistry

from linker.core.claims import (
    LEEWAY,
    BadClaim,
    BadTime,
    finite_number,
    json_depth_ok,
    optional_number,
)
from linker.core.errors import Code, LinkError, Signal
from linker.core.identities import Identity
from linker.core.secret import Secret

START_TOKEN_MAX_AGE = 300
RESULT_TOKEN_LIFETIME = 120
COMMIT_TOKEN_MAX_LIFETIME = 60
COMMIT_AUDIENCE = "linker:commit"
TOKEN_VERSION = 2
# Made once: joserfc builds a registry per call when given `algorithms` instead.
_HS256 = JWSRegistry(algorithms=["HS256"])
_REQUIRED_START_CLAIMS = ("sub", "iss", "iat", "exp", "jti", "action", "client_id", "user")


@dataclass(frozen=True)
class StartRequest:
    """What the Action asked for, from a start token whose signature and claims checked out."""

    sub: str
    issued_at: int
    ip: str | None
    action: str
    client_id: str
    requested_connection: str | None
    requested_connection_scope: str | None
    requested_identity: str | None
    id_token_hint: str | None
    email: str | None
    email_verified: bool
    identities: tuple[Identity, ...]
    authentication_methods: frozenset[str]
    enrolled_factors: tuple[str, ...]
    jti: str
    expires_at: float
    suggest: str | None = None  # action "suggest": the shim's mode, "suggest" or "require"

    @property
    def primary_identity(self) -> Identity | None:
        """The identity the user id is made of: Auth0 never lets it be unlinked."""
        return next((i for i in self.identities if i.full_id == self.sub), None)


def _bad(description: str, *, by_clock: bool = False) -> LinkError:
    return LinkError(Code.INVALID_SESSION_TOKEN, description, by_clock=by_clock)


class _Unverified(Signal):
    """No configured secret verifies the token, or it is not an HS256 JWT at all."""


@functools.lru_cache(maxsize=8)
def _hs256_key(raw: str) -> OctKey:
    """Each action secret imported once: an import costs as much as checking a signature."""
    return OctKey.import_key(raw)


def _verify_hs256(token: str, keys: Sequence[Secret], *, what: str) -> dict[str, Any]:
    for secret in keys:
        key = _hs256_key(secret.reveal())
        try:
            return jwt.decode(token, key, registry=_HS256).claims
        except BadSignatureError:
            continue
        except JoseError:
            # Malformed token or an algorithm other than HS256 (`none` included).
            raise _Unverified(f"The {what} is malformed or not signed with HS256.") from None
        except (ValueError, TypeError, RecursionError):
            # RecursionError: a validly signed payload nested deeper than json can parse.
            raise _Unverified(f"The {what} is malformed.") from None
    raise _Unverified(f"The {what}'s signature does not match any configured secret.")


def _times(claims: Mapping[str, Any], *, now: float) -> tuple[float, float]:
    """`iat` and `exp` as finite numbers, with `exp` and `nbf` honoured; raises `BadClaim`."""
    exp, iat = finite_number(claims, "exp"), finite_number(claims, "iat")
    nbf = optional_number(claims, "nbf")
    if exp <= now - LEEWAY:
        raise BadTime("it has expired")
    if iat > now + LEEWAY:
        raise BadTime("it was issued in the future")
    if nbf is not None and nbf > now + LEEWAY:
        raise BadTime("it is not valid yet ('nbf')")
    return iat, exp


def _opt_str(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(f"The session token's '{name}' claim is not a string.")
    return value


def _str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def decode_start_token(
    token: str, *, secrets: Sequence[Secret], domain: str, now: float
) -> StartRequest:
    """Verify the start token the Action minted with `api.redirect.encodeToken`."""
    if not token:
        raise _bad("The session token is missing.")
    try:
        claims = _verify_hs256(token, secrets, what="session token")
    except _Unverified as exc:
        raise _bad(str(exc)) from None
    # The version first: a v1 Action's token lacks claims, and the fix is to update the Action.
    if claims.get("linker_v") != TOKEN_VERSION:
        raise _bad(
            "The session token was made by an Action of another version: update the linker "
            f"Action to protocol version {TOKEN_VERSION}."
        )
    missing = [name for name in _REQUIRED_START_CLAIMS if claims.get(name) in (None, "")]
    if missing:
        raise _bad(f"The session token lacks the claims: {', '.join(missing)}.")
    if claims["iss"] != domain:
        raise _bad("The session token was issued by another tenant.")
    try:
        iat, exp = _times(claims, now=now)
    except BadClaim as exc:
        by_clock = isinstance(exc, BadTime)
        raise _bad(f"The session token is refused: {exc}.", by_clock=by_clock) from None
    if now - iat > START_TOKEN_MAX_AGE + LEEWAY:
        raise _bad("The session token is too old.", by_clock=True)
    sub, client_id, action, jti = (claims[n] for n in ("sub", "client_id", "action", "jti"))
    user = claims["user"]
    if not all(isinstance(v, str) for v in (sub, client_id, action, jti)):
        raise _bad("The session token's sub, client_id, action or jti is not a string.")
    if not isinstance(user, dict):
        raise _bad("The session token's 'user' claim is not an object.")
    raw_identities = user.get("identities") or []
    if not isinstance(raw_identities, list):
        raise _bad("The session token's identities are not a list.")
    try:
        identities = tuple(Identity.from_auth0(i) for i in raw_identities)
    except (ValueError, AttributeError):
        raise _bad("The session token lists a malformed identity.") from None
    email = user.get("email")
    return StartRequest(
        sub=sub,
        issued_at=int(iat),
        expires_at=exp,
        ip=_opt_str(claims, "ip"),
        action=action,
        client_id=client_id,
        requested_connection=_opt_str(claims, "requested_connection"),
        requested_connection_scope=_opt_str(claims, "requested_connection_scope"),
        requested_identity=_opt_str(claims, "requested_identity"),
        id_token_hint=_opt_str(claims, "id_token_hint"),
        email=email if isinstance(email, str) else None,
        email_verified=user.get("email_verified") is True,
        identities=identities,
        authentication_methods=frozenset(_str_list(claims.get("authentication_methods"))),
        enrolled_factors=_str_list(claims.get("enrolled_factors")),
        jti=jti,
        suggest=_opt_str(claims, "suggest"),
    )


@dataclass(frozen=True)
class Result:
    """The outcome handed back to the Action through `/continue`."""

    status: str
    error: str | None = None
    error_description: str | None = None
    identity: Identity | None = None
    commit: str | None = None  # with status "pending": the id the Action commits
    primary: str | None = None  # a suggested link: the user that survives (the older account)

    @classmethod
    def from_error(cls, error: LinkError) -> Result:
        return cls(status=error.status, error=error.code.value, error_description=error.description)

    def to_claim(self) -> dict[str, Any]:
        claim = {
            "status": self.status,
            "error": self.error,
            "error_description": self.error_description,
            "identity": self.identity.to_claim() if self.identity else None,
        }
        if self.primary is not None:
            claim["primary"] = self.primary
        return claim


def encode_result_token(
    result: Result, *, sub: str, state: str, secret: Secret, issuer: str, now: float
) -> tuple[str, str]:
    """Sign the result token for `/continue`; returns the token and its `jti` (for logs)."""
    iat = int(now)
    jti = secrets.token_urlsafe(16)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": sub,
        "state": state,
        "iat": iat,
        # Valid for its lifetime on the Action's clock even when linker's is a few minutes off.
        "exp": iat + RESULT_TOKEN_LIFETIME + LEEWAY,
        "jti": jti,
        "linker_v": TOKEN_VERSION,
        "result": result.to_claim(),
    }
    if result.commit is not None:
        claims["commit"] = result.commit
    key = _hs256_key(secret.reveal())
    return jwt.encode({"alg": "HS256"}, claims, key, registry=_HS256), jti


class CommitRejected(Signal):
    """The commit token is not one the Action made for this attempt: answered 401."""

    def __init__(self, reason: str, *, by_clock: bool = False) -> None:
        super().__init__(reason)
        self.by_clock = by_clock  # a time check refused it (see `LinkError.by_clock`)


@dataclass(frozen=True)
class PrimaryProfile:
    """The primary user as the Action saw it at `/continue`, from the commit token."""

    identities: tuple[Identity, ...]
    user_metadata: dict[str, Any]
    app_metadata: dict[str, Any]


@dataclass(frozen=True)
class CommitRequest:
    """A verified commit token: the Action confirms attempt `commit` for user `sub`."""

    sub: str
    commit: str
    jti: str
    user: PrimaryProfile


def _metadata(user: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = user.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CommitRejected(f"the user's {name} is not an object")
    return value


def decode_commit_token(token: str, *, secrets: Sequence[Secret], now: float) -> CommitRequest:
    """Verify the commit token the Action signs in `onContinuePostLogin`."""
    if not token:
        raise CommitRejected("the commit token is missing")
    try:
        claims = _verify_hs256(token, secrets, what="commit token")
    except _Unverified as exc:
        raise CommitRejected(str(exc)) from None
    if claims.get("aud") != COMMIT_AUDIENCE:
        # A result or start token signed with the same secret is not a commit token.
        raise CommitRejected("the token is not a commit token")
    if claims.get("linker_v") != TOKEN_VERSION:
        raise CommitRejected("the commit token was made by an Action of another version")
    try:
        iat, exp = _times(claims, now=now)
    except BadClaim as exc:
        by_clock = isinstance(exc, BadTime)
        raise CommitRejected(f"the commit token is refused: {exc}", by_clock=by_clock) from None
    if exp - iat > COMMIT_TOKEN_MAX_LIFETIME:
        raise CommitRejected("the commit token lives longer than 60 seconds")
    sub, commit, jti, user = (claims.get(n) for n in ("sub", "commit", "jti", "user"))
    if not (isinstance(sub, str) and isinstance(commit, str) and isinstance(jti, str)):
        raise CommitRejected("the commit token lacks sub, commit or jti")
    if not (sub and commit and jti):
        raise CommitRejected("the commit token has an empty sub, commit or jti")
    if not isinstance(user, dict) or not isinstance(user.get("identities"), list):
        raise CommitRejected("the commit token carries no user with identities")
    if not json_depth_ok(user):
        raise CommitRejected("the commit token's user is nested too deeply")
    try:
        identities = tuple(Identity.from_auth0(i) for i in user["identities"])
    except (ValueError, AttributeError):
        raise CommitRejected("the commit token lists a malformed identity") from None
    profile = PrimaryProfile(
        identities=identities,
        user_metadata=_metadata(user, "user_metadata"),
        app_metadata=_metadata(user, "app_metadata"),
    )
    return CommitRequest(sub=sub, commit=commit, jti=jti, user=profile)
