"""The Resource Owner Password grant, for database connections: a non-interactive login.

`grant_type=password` (the tenant's default directory, seed setting `default_directory`) and
`http://auth0.com/oauth/grant-type/password-realm` (the connection named by `realm`), as the
Authentication API documents them
(https://auth0.com/docs/api/authentication/resource-owner-password-flow/get-token).
Its post-login Action runs with `event.transaction.protocol` `oauth2-resource-owner`, where
no redirect is possible: so a real flow exercises the shim's list of non-interactive
protocols. This module checks the credentials; `token_endpoint.py` runs the Action and issues
the tokens.
"""

from __future__ import annotations

import hmac

from linker.devtenant.directory import User
from linker.devtenant.errors import OAuthError
from linker.devtenant.seed import Connection
from linker.devtenant.state import TenantState

PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"  # noqa: S105 (a grant URN)
PASSWORD_GRANTS = frozenset({"password", PASSWORD_REALM})
PROTOCOL = "oauth2-resource-owner"


def authenticate_user(tenant: TenantState, form: dict[str, str]) -> tuple[User, Connection]:
    """The user whose database identity these credentials are, and its connection."""
    if form.get("grant_type") == PASSWORD_REALM:
        realm = form.get("realm")
        if not realm:
            raise OAuthError(400, "invalid_request", "Missing required parameter: realm")
    else:
        realm = tenant.settings.default_directory
        if realm is None:
            raise OAuthError(
                500,
                "server_error",
                "Authorization server not configured with default connection.",
            )
    connection = tenant.seed.connection(realm)
    if connection is None or connection.is_social or not connection.for_login:
        raise OAuthError(400, "invalid_request", f"Unknown or unusable connection: {realm}")
    username, password = form.get("username", ""), form.get("password", "")
    for seeded in tenant.seed.users:
        identity = seeded.identities[0]
        if identity.connection != connection.name or identity.profile.email != username:
            continue
        found = tenant.directory.owner_of(identity.full_id)
        if (
            found is not None
            and seeded.password is not None
            and hmac.compare_digest(seeded.password.encode(), password.encode())
        ):
            return found[0], connection
    raise OAuthError(403, "invalid_grant", "Wrong email or password.")
