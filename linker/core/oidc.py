"""Pure rules of linker's OpenID Connect client: discovery, client authentication, UserInfo.

linker speaks to an Auth0 tenant, but its nested login is plain OpenID Connect, and it has to
hold up against any certified provider
(the repository's tests/conformance runs it against one). These are the places where a careful
client differs from one that only knows Auth0:

- Discovery 4.3: the `issuer` of the configuration must be exactly the issuer we expect;
  otherwise every token check that follows is made against the wrong authority.
- RFC 6749 2.3.1: a confidential client authenticates with HTTP Basic, which every server must
  support; the form body (`client_secret_post`) is the fallback when discovery says only that.
- Core 5.4: the `email` scope asks for claims that a provider may put only at UserInfo; when
  the ID token lacks them, UserInfo fills them in, provided it speaks of the same `sub`
  (Core 5.3.2).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from linker.core.errors import Code, LinkError

AuthMethod = Literal["client_secret_basic", "client_secret_post"]
EMAIL_CLAIMS = ("email", "email_verified")


def issuer_problem(discovery: Mapping[str, Any], expected: str) -> str | None:
    """Why this configuration cannot be trusted for `expected`, or None when it can."""
    issuer = discovery.get("issuer")
    if issuer != expected:
        return f"the tenant's discovery names issuer {issuer!r}, expected {expected!r}"
    return None


def token_auth_method(discovery: Mapping[str, Any]) -> AuthMethod:
    """The client authentication to use at the token endpoint.

    Discovery's default, when the field is absent, is `client_secret_basic` (OpenID Connect
    Discovery 1.0, section 3).
    """
    supported = discovery.get("token_endpoint_auth_methods_supported")
    if not isinstance(supported, list) or "client_secret_basic" in supported:
        return "client_secret_basic"
    if "client_secret_post" in supported:
        return "client_secret_post"
    raise LinkError(
        Code.UPSTREAM_UNAVAILABLE,
        "The tenant supports neither client_secret_basic nor client_secret_post "
        f"at its token endpoint ({', '.join(map(str, supported))}).",
    )


def other_auth_method(method: AuthMethod, discovery: Mapping[str, Any]) -> AuthMethod | None:
    """The other secret-based method, when discovery lists it: the fallback for a client
    registered with the one linker did not pick."""
    supported = discovery.get("token_endpoint_auth_methods_supported")
    other: AuthMethod = (
        "client_secret_post" if method == "client_secret_basic" else "client_secret_basic"
    )
    if isinstance(supported, list) and other in supported:
        return other
    return None


def client_auth(
    method: AuthMethod, client_id: str, client_secret: str
) -> tuple[dict[str, str], dict[str, str]]:
    """(extra form fields, extra headers) that authenticate the client with `method`.

    Basic encodes id and secret with application/x-www-form-urlencoded first (RFC 6749
    2.3.1), so a secret with ':' or non-ASCII characters survives.
    """
    if method == "client_secret_post":
        return {"client_id": client_id, "client_secret": client_secret}, {}
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    token = base64.b64encode(pair.encode()).decode()
    return {}, {"Authorization": f"Basic {token}"}


def lacks_email_claims(claims: Mapping[str, Any]) -> bool:
    """The ID token says nothing of the email: UserInfo may (OIDC Core 5.4)."""
    return any(name not in claims for name in EMAIL_CLAIMS)


def merge_userinfo(claims: Mapping[str, Any], userinfo: Mapping[str, Any]) -> dict[str, Any]:
    """The ID token's claims, with the email claims it lacks taken from UserInfo.

    Only missing email claims are taken: the signed ID token stays the authority for
    everything it says. A UserInfo answer about another `sub` is refused (Core 5.3.2: the
    client MUST check it, or a substituted response could vouch for someone else's email).
    """
    if userinfo.get("sub") != claims.get("sub"):
        raise LinkError(
            Code.INVALID_SECONDARY_TOKEN,
            "The other account's UserInfo speaks of another user than its ID token.",
        )
    merged = dict(claims)
    for name in EMAIL_CLAIMS:
        if name not in merged and name in userinfo:
            merged[name] = userinfo[name]
    return merged
