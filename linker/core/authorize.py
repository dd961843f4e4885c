"""The authorization request (`/authorize`, OpenID Connect Core §3.1.2.1) with PKCE (RFC 7636).

Every login linker or its helpers start goes through `build_authorize_url`: the authorization
code flow, `S256` only, state always, nonce whenever an ID token will come back.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlencode


def build_authorize_url(
    endpoint: str,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    state: str,
    code_challenge: str,
    nonce: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """The URL of an authorization code request to `endpoint` (the tenant's
    `authorization_endpoint`, `https://TENANT/authorize` on Auth0).

    `extra` holds the request's other parameters (`connection`, `audience`, `prompt`,
    `id_token_hint`, `requested_connection`, ...); it cannot replace the ones named here.
    """
    params = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": scope,
    }
    for name, value in (extra or {}).items():
        if name in params or name in _SET_HERE:
            raise ValueError(f"{name} is an argument of build_authorize_url, not an extra")
        params[name] = value
    params["state"] = state
    if nonce is not None:
        params["nonce"] = nonce
    params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
    separator = "&" if "?" in endpoint else "?"
    return endpoint + separator + urlencode(params, quote_via=quote)


_SET_HERE = frozenset({"state", "nonce", "code_challenge", "code_challenge_method"})
