"""Token Vault: exchanging a tenant token for a connection's (federated) access token.

Where the tokens come from depends on the connection's purposes (seed `purposes`), as
"Connected Accounts for Token Vault" documents it
(https://auth0.com/docs/secure/tokens/token-vault/connected-accounts-for-token-vault):
with Connected Accounts on, only the user's connected accounts (the My Account API's connect
flow, `my_account.py`) count; a connection used only to log in keeps the earlier model, a
tokenset per social identity filled by logins (and so by a link). The answer's `scope` is what
was granted; the request has no `scope` parameter
(https://auth0.com/docs/secure/tokens/token-vault/refresh-token-exchange-with-token-vault).
`login_hint` picks one of several accounts of one connection (work and personal), among
connected accounts as among identities; a hint that names none finds nothing.
With nothing stored: 401 with the tenant's not-found code (seed setting
`token_vault_not_found_error`: `tokenset_not_found` or
`federated_connection_refresh_token_not_found`).

An access token as the subject is Auth0's access token exchange
(https://auth0.com/docs/secure/tokens/token-vault/access-token-exchange-with-token-vault): the
token must be for an API, and the client exchanging it must be that API's Custom API Client.
"""

from __future__ import annotations

import secrets
from typing import Any

from linker.devtenant.directory import User
from linker.devtenant.errors import OAuthError
from linker.devtenant.seed import Client, Connection
from linker.devtenant.state import TenantState
from linker.devtenant.token_claims import check_access_token

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
        raise OAuthError(
            400, "invalid_request", f"requested_token_type must be {FEDERATED_TOKEN_TYPE}"
        )
    connection_name = form.get("connection")
    if not connection_name:
        raise OAuthError(400, "invalid_request", "Missing required parameter: connection")
    connection = tenant.seed.connection(connection_name)
    if connection is None:
        raise OAuthError(400, "invalid_request", f"Unknown connection: {connection_name}")
    user = tenant.directory.get(user_id)
    if user is None:
        raise OAuthError(400, "invalid_grant", "The user no longer exists")
    login_hint = form.get("login_hint")
    granted = _granted_scopes(user, connection, login_hint)
    if granted is None:
        error = tenant.settings.token_vault_not_found_error
        raise OAuthError(401, error, f"No tokens stored for connection {connection_name}")
    return {
        "access_token": f"{connection_name}.{secrets.token_urlsafe(24)}",
        "expires_in": FEDERATED_TOKEN_TTL,
        "scope": " ".join(sorted(granted)),
        "issued_token_type": FEDERATED_TOKEN_TYPE,
        "token_type": "Bearer",
    }


def _granted_scopes(
    user: User, connection: Connection, login_hint: str | None
) -> frozenset[str] | None:
    """The scopes of the stored tokens Token Vault would use, or None when it holds none."""
    if connection.vault_reads_connected_accounts:
        # With login_hint, the connected account of the provider account it names (work or
        # personal); without, the first connected for the connection.
        account = next(
            (
                a
                for a in user.connected_accounts
                if a.connection == connection.name
                and (
                    login_hint is None or (a.account is not None and a.account.named_by(login_hint))
                )
            ),
            None,
        )
        return account.scopes if account is not None else None
    identity = next(
        (
            i
            for i in user.identities
            if i.connection == connection.name
            and connection.is_social
            and i.granted_scopes
            and (login_hint is None or login_hint in (i.full_id, i.user_id, i.profile.email))
        ),
        None,
    )
    return identity.granted_scopes if identity is not None else None


def _subject(tenant: TenantState, client: Client, form: dict[str, str]) -> str:
    """The user behind the subject token: a refresh token of this client, or an access token."""
    token_type = form.get("subject_token_type")
    subject_token = form.get("subject_token", "")
    if token_type == REFRESH_TOKEN_TYPE:
        grant = tenant.refresh_tokens.get(subject_token)
        if grant is None or grant.client_id != client.client_id:
            raise OAuthError(401, "invalid_grant", "Unknown or invalid refresh token.")
        return grant.user_id
    if token_type == ACCESS_TOKEN_TYPE:
        return _access_token_subject(tenant, client, subject_token)
    raise OAuthError(400, "invalid_request", f"Unsupported subject_token_type: {token_type}")


def _access_token_subject(tenant: TenantState, client: Client, subject_token: str) -> str:
    """The user of an access token for the API whose Custom API Client is `client`."""
    api = client.resource_server_identifier
    if client.app_type != "resource_server" or api is None:
        raise OAuthError(
            403,
            "unauthorized_client",
            "Only a Custom API Client can exchange an access token at Token Vault",
        )
    try:
        claims = check_access_token(
            tenant.keys.verify(subject_token), issuer=tenant.issuer, audience=api, now=tenant.now()
        )
    except ValueError:
        # A /userinfo-only token, or one for another API, is not a subject for this client.
        raise OAuthError(401, "invalid_grant", f"The subject token is not for {api}") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or subject.endswith("@clients"):
        raise OAuthError(401, "invalid_grant", "The subject token does not name a user")
    return subject
