"""The two HS256 tokens shared with the Action: the start token in, the result token out.

Pure functions: each takes the token, the secrets and `now`, and returns data or raises
`LinkError`. Signature first, then claims, with a small leeway for clock skew.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OctKey

from linker.errors import Code, LinkError
from linker.settings import Secret

LEEWAY = 30
START_TOKEN_MAX_AGE = 300
RESULT_TOKEN_LIFETIME = 120
TOKEN_VERSION = 1
_HS256 = ["HS256"]
_REQUIRED_START_CLAIMS = ("sub", "iss", "iat", "exp", "action", "client_id", "user")


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


def split_user_id(user_id: str) -> tuple[str, str]:
    """Split `provider|id` at the first `|` only: ids themselves may contain `|`."""
    provider, sep, rest = user_id.partition("|")
    if not sep or not provider or not rest:
        raise ValueError("a user id has the form provider|id")
    return provider, rest


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
    jti: str | None

    @property
    def primary_identity(self) -> Identity | None:
        """The identity the user id is made of: Auth0 never lets it be unlinked."""
        return next((i for i in self.identities if i.full_id == self.sub), None)


def _bad(description: str) -> LinkError:
    return LinkError(Code.INVALID_SESSION_TOKEN, description)


def _verify_hs256(token: str, keys: Sequence[Secret]) -> dict[str, Any]:
    for secret in keys:
        key = OctKey.import_key(secret.reveal())
        try:
            return jwt.decode(token, key, algorithms=_HS256).claims
        except BadSignatureError:
            continue
        except JoseError:
            # Malformed token or an algorithm other than HS256 (`none` included).
            raise _bad("The session token is malformed or not signed with HS256.") from None
        except (ValueError, TypeError):
            raise _bad("The session token is malformed.") from None
    raise _bad("The session token's signature does not match any configured secret.")


def _int_claim(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"The session token's '{name}' claim is not a number.")
    return int(value)


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
    claims = _verify_hs256(token, secrets)
    missing = [name for name in _REQUIRED_START_CLAIMS if claims.get(name) in (None, "")]
    if missing:
        raise _bad(f"The session token lacks the claims: {', '.join(missing)}.")
    if claims.get("linker_v") != TOKEN_VERSION:
        raise _bad("The session token was made by an Action of another version.")
    if claims["iss"] != domain:
        raise _bad("The session token was issued by another tenant.")
    exp, iat = _int_claim(claims, "exp"), _int_claim(claims, "iat")
    if exp <= now - LEEWAY:
        raise _bad("The session token has expired.")
    if iat > now + LEEWAY:
        raise _bad("The session token was issued in the future.")
    if now - iat > START_TOKEN_MAX_AGE + LEEWAY:
        raise _bad("The session token is too old.")
    sub, client_id, action = claims["sub"], claims["client_id"], claims["action"]
    user = claims["user"]
    if not isinstance(sub, str) or not isinstance(client_id, str) or not isinstance(action, str):
        raise _bad("The session token's sub, client_id or action is not a string.")
    if not isinstance(user, dict):
        raise _bad("The session token's 'user' claim is not an object.")
    try:
        identities = tuple(Identity.from_auth0(i) for i in user.get("identities") or [])
    except (ValueError, AttributeError):
        raise _bad("The session token lists a malformed identity.") from None
    email = user.get("email")
    return StartRequest(
        sub=sub,
        issued_at=iat,
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
        jti=_opt_str(claims, "jti"),
    )


@dataclass(frozen=True)
class Result:
    """The outcome handed back to the Action through `/continue`."""

    status: str
    error: str | None = None
    error_description: str | None = None
    identity: Identity | None = None

    @classmethod
    def from_error(cls, error: LinkError) -> Result:
        return cls(status=error.status, error=error.code.value, error_description=error.description)

    def to_claim(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": self.error,
            "error_description": self.error_description,
            "identity": self.identity.to_claim() if self.identity else None,
        }


def encode_result_token(
    result: Result, *, sub: str, state: str, secret: Secret, issuer: str, now: float
) -> tuple[str, str]:
    """Sign the result token for `/continue`; returns the token and its `jti` (for logs)."""
    iat = int(now)
    jti = secrets.token_urlsafe(16)
    claims = {
        "iss": issuer,
        "sub": sub,
        "state": state,
        "iat": iat,
        "exp": iat + RESULT_TOKEN_LIFETIME,
        "jti": jti,
        "linker_v": TOKEN_VERSION,
        "result": result.to_claim(),
    }
    key = OctKey.import_key(secret.reveal())
    return jwt.encode({"alg": "HS256"}, claims, key, algorithms=_HS256), jti
