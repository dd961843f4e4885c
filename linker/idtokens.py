"""RS256 ID token checks: the application's `id_token_hint` and the nested login's ID token.

Signature first (RS256 only, key chosen by `kid`), then claims against an explicit `now`.
Callers turn `TokenRejected` into the contract code that fits their step.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

LEEWAY = 30
_RS256 = ["RS256"]


class TokenRejected(Exception):
    """An ID token failed a check; the message says which, and never contains the token."""


def key_id(token: str) -> str | None:
    """The `kid` in a token's header, read before any key is chosen (None if unreadable)."""
    try:
        kid = jws.extract_compact(token.encode()).protected.get("kid")
    except (JoseError, ValueError, TypeError):
        return None
    return kid if isinstance(kid, str) else None


def verify_rs256(token: str, keys: KeySet) -> dict[str, Any]:
    """Check the signature with the tenant's key of the token's `kid`; RS256 and nothing else."""
    try:
        return jwt.decode(token, keys, algorithms=_RS256).claims
    except JoseError as exc:
        raise TokenRejected(f"signature check failed ({exc.error})") from None
    except (ValueError, TypeError):
        raise TokenRejected("the token is malformed") from None


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRejected(f"'{name}' is missing or not a number")
    return float(value)


def check_common_claims(
    claims: Mapping[str, Any], *, issuer: str, audience: str, now: float
) -> None:
    """`iss`, `aud`, `exp`, `iat` as OpenID Connect Core 3.1.3.7 asks."""
    if claims.get("iss") != issuer:
        raise TokenRejected("issued by another tenant")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        raise TokenRejected("issued for another client")
    if _number(claims, "exp") <= now - LEEWAY:
        raise TokenRejected("expired")
    if _number(claims, "iat") > now + LEEWAY:
        raise TokenRejected("issued in the future")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenRejected("'sub' is missing")


def issued_at(claims: Mapping[str, Any]) -> float:
    return _number(claims, "iat")


def check_login_claims(
    claims: Mapping[str, Any], *, client_id: str, nonce: str, not_before: float
) -> None:
    """The nested login's own checks: `azp`, `nonce`, and a fresh `auth_time`."""
    aud = claims.get("aud")
    azp = claims.get("azp")
    if isinstance(aud, list) and len(aud) > 1 and azp is None:
        raise TokenRejected("several audiences and no 'azp'")
    if azp is not None and azp != client_id:
        raise TokenRejected("'azp' names another client")
    got = claims.get("nonce")
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        raise TokenRejected("'nonce' does not match this transaction")
    if _number(claims, "auth_time") < not_before - LEEWAY:
        raise TokenRejected("the sign-in is older than this transaction ('auth_time')")
