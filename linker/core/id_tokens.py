"""RS256 ID token checks: the application's `id_token_hint` and the nested login's ID token.

Signature first (RS256 only, key chosen by `kid`), then claims against an explicit `now`.
Callers turn `TokenRejected` into the contract code that fits their step.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from linker.core.claims import (
    LEEWAY,
    STRICT_LEEWAY,
    BadClaim,
    finite_number,
    optional_number,
    unverified_segment,
)
from linker.core.errors import Signal

# Made once: joserfc builds a registry per call when given `algorithms` instead.
_RS256 = JWSRegistry(algorithms=["RS256"])


class TokenRejected(Signal):
    """An ID token failed a check; the message says which, and never contains the token."""

    by_clock = False


class TokenTimeRejected(TokenRejected):
    """A time check failed (`exp`, `iat`, `nbf`, `auth_time`): a clock that is off could
    have made this refusal."""

    by_clock = True


def key_id(token: str) -> str | None:
    """The `kid` in a token's header, read before any key is chosen (None if unreadable).

    Only the header is decoded: the `kid` merely picks the key, and `verify_rs256` reads
    the whole token, signature first."""
    header = unverified_segment(token, 0)
    kid = header.get("kid") if header is not None else None
    return kid if isinstance(kid, str) else None


def verify_rs256(token: str, keys: KeySet) -> dict[str, Any]:
    """Check the signature with the tenant's key of the token's `kid`; RS256 and nothing else."""
    try:
        return jwt.decode(token, keys, registry=_RS256).claims
    except JoseError as exc:
        raise TokenRejected(f"signature check failed ({exc.error})") from None
    except (ValueError, TypeError, RecursionError):
        raise TokenRejected("the token is malformed") from None


def _number(claims: Mapping[str, Any], name: str) -> float:
    try:
        return finite_number(claims, name)
    except BadClaim as exc:
        raise TokenRejected(str(exc)) from None


def check_common_claims(
    claims: Mapping[str, Any], *, issuer: str, audience: str, now: float, id_token: bool = True
) -> None:
    """`iss`, `aud`, `azp`, `exp`, `iat`, `nbf` as OpenID Connect Core 3.1.3.7 asks.

    An access token for an API (`id_token=False`) is checked alike, except `azp`: there it names
    the client the token was issued to, not the audience.
    """
    if claims.get("iss") != issuer:
        raise TokenRejected("issued by another tenant")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if audience not in audiences:
        raise TokenRejected("issued for another client")
    azp = claims.get("azp")
    if id_token and azp is not None and azp != audience:
        raise TokenRejected("'azp' names another client")
    if _number(claims, "exp") <= now - LEEWAY:
        raise TokenTimeRejected("expired")
    if _number(claims, "iat") > now + LEEWAY:
        raise TokenTimeRejected("issued in the future")
    try:
        nbf = optional_number(claims, "nbf")
    except BadClaim as exc:
        raise TokenRejected(str(exc)) from None
    if nbf is not None and nbf > now + LEEWAY:
        raise TokenTimeRejected("not valid yet ('nbf')")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise TokenRejected("'sub' is missing")


def issued_at(claims: Mapping[str, Any]) -> float:
    return _number(claims, "iat")


def check_login_claims(claims: Mapping[str, Any], *, nonce: str, not_before: float) -> None:
    """The nested login's own checks: `azp` with several audiences, `nonce`, fresh `auth_time`."""
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") is None:
        raise TokenRejected("several audiences and no 'azp'")
    got = claims.get("nonce")
    if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
        raise TokenRejected("'nonce' does not match this transaction")
    if _number(claims, "auth_time") < not_before - STRICT_LEEWAY:
        raise TokenTimeRejected("the sign-in is older than this transaction ('auth_time')")
