"""Token Vault: exchanging a tenant token for a connection's (federated) access token.

The tenant keeps a "tokenset" per social identity: the scopes its logins were granted (the
connection's defaults plus any `connection_scope`). An exchange succeeds only when the user
has an identity of the connection whose tokenset covers the requested scopes; otherwise it
answers 401 `tokenset_not_found`, which is what sends an app to linker in the first place.
"""

from __future__ import annotations

import secrets
from typing import Any

from linker.devtenant.errors import TokenError
from linker.devtenant.seed import Client, Identity
from linker.devtenant.state import TenantState
from linker.devtenant.tokens import check_access_token

# Token type URNs, not secrets.
TOKEN_VAULT_GRANT = (
    "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"  # noqa: S105
)
FEDERATED_TOKEN_TYPE = "http://auth0.com/oauth/token-type/federated-connection-access-token"  # noqa: S105
REFRESH_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:refresh_token"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
FEDERATED_TOKEN_TTL = 3600


def exchange_federated_token(
    tenant: TenantState, client: Client, form: dict[str, str]
) -> dict[str, Any]:
    user_id = _subject(tenant, client, form)
    requested_type = form.get("requested_token_type")
    if requested_type != FEDERATED_TOKEN_TYPE:
        raise TokenError(
            400, "invalid_request", f"requested_token_type must be {FEDERATED_TOKEN_TYPE}"
        )
    connection_name = form.get("connection")
    if not connection_name:
        raise TokenError(400, "invalid_request", "Missing required parameter: connection")
    connection = tenant.seed.connection(connection_name)
    if connection is None:
        raise TokenError(400, "invalid_request", f"Unknown connection: {connection_name}")
    user = tenant.directory.get(user_id)
    if user is None:
        raise TokenError(400, "invalid_grant", "The user no longer exists")
    wanted = frozenset(form.get("scope", "").split())
    login_hint = form.get("login_hint")
    identity = next(
        (
            i
            for i in user.identities
            if i.connection == connection_name
            and connection.is_social
            and _covers(i, wanted)
            and (login_hint is None or login_hint in (i.full_id, i.user_id, i.profile.email))
        ),
        None,
    )
    if identity is None:
        raise TokenError(
            401,
            "tokenset_not_found",
            f"No tokenset for connection {connection_name} covers the requested scopes",
        )
    scopes = wanted or identity.granted_scopes
    return {
        "access_token": f"{connection_name}.{secrets.token_urlsafe(24)}",
        "expires_in": FEDERATED_TOKEN_TTL,
        "scope": " ".join(sorted(scopes)),
        "issued_token_type": FEDERATED_TOKEN_TYPE,
        "token_type": "Bearer",
    }


def _covers(identity: Identity, wanted: frozenset[str]) -> bool:
    return bool(identity.granted_scopes) and wanted <= identity.granted_scopes


def _subject(tenant: TenantState, client: Client, form: dict[str, str]) -> str:
    """The user behind the subject token: a refresh token of this client, or an access token."""
    token_type = form.get("subject_token_type")
    subject_token = form.get("subject_token", "")
    if token_type == REFRESH_TOKEN_TYPE:
        grant = tenant.refresh_tokens.get(subject_token)
        if grant is None or grant.client_id != client.client_id:
            raise TokenError(401, "invalid_grant", "Unknown or invalid refresh token.")
        return grant.user_id
    if token_type == ACCESS_TOKEN_TYPE:
        try:
            claims = check_access_token(
                tenant.keys.verify(subject_token),
                issuer=tenant.issuer,
                audience=tenant.issuer + "userinfo",
                now=tenant.now(),
            )
        except ValueError:
            raise TokenError(401, "invalid_grant", "Invalid subject token") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or subject.endswith("@clients"):
            raise TokenError(401, "invalid_grant", "The subject token does not name a user")
        return subject
    raise TokenError(400, "invalid_request", f"Unsupported subject_token_type: {token_type}")
