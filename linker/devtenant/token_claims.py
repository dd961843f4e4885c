"""The claims of the tokens the tenant issues, and the checks on the ones it receives back.

Pure functions of data and `now`; `keys.KeyRing` does the signing. ID tokens carry profile
claims by scope, as Auth0 does (`email`, `email_verified` with `email`; `name` with
`profile`), plus whatever the post-login Action set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from linker.devtenant.directory import User

ID_TOKEN_TTL = 36_000
ACCESS_TOKEN_TTL = 86_400
# Claims an Action may not overwrite (Auth0 silently ignores them too).
RESERVED_CLAIMS = frozenset(
    {"iss", "sub", "aud", "azp", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "sid", "scope"}
)


class TokenCheckError(ValueError):
    """A token the tenant received does not hold up; the message says why."""


def custom_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if k not in RESERVED_CLAIMS}


def id_token_claims(
    *,
    issuer: str,
    user: User,
    client_id: str,
    scopes: Iterable[str],
    now: int,
    auth_time: int,
    session_id: str,
    nonce: str | None,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    scope_set = set(scopes)
    claims: dict[str, Any] = {
        **custom_claims(extra),
        "iss": issuer,
        "sub": user.user_id,
        "aud": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + ID_TOKEN_TTL,
        "auth_time": auth_time,
        "sid": session_id,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if "email" in scope_set:
        claims["email_verified"] = user.profile.email_verified
        if user.profile.email is not None:
            claims["email"] = user.profile.email
    if "profile" in scope_set and user.profile.name is not None:
        claims["name"] = user.profile.name
    return claims


def access_token_claims(
    *,
    issuer: str,
    subject: str,
    audience: str | list[str],
    client_id: str,
    scopes: Iterable[str],
    now: int,
    extra: Mapping[str, Any] | None = None,
    grant: str | None = None,
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        **custom_claims(extra or {}),
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "azp": client_id,
        "iat": now,
        "exp": now + ACCESS_TOKEN_TTL,
        "scope": " ".join(scopes),
    }
    if grant is not None:
        claims["gty"] = grant
    return claims


def check_access_token(
    claims: Mapping[str, Any], *, issuer: str, audience: str, now: float
) -> dict[str, Any]:
    """The claim checks on an access token whose signature already verified."""
    if claims.get("iss") != issuer:
        raise TokenCheckError("Invalid token")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise TokenCheckError("Invalid token")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= now:
        raise TokenCheckError("Expired token received for JSON Web Token validation")
    return dict(claims)


def scopes_of(claims: Mapping[str, Any]) -> set[str]:
    scope = claims.get("scope")
    return set(scope.split()) if isinstance(scope, str) else set()
