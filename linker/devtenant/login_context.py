"""One line on the login page that says which application asks you to sign in, and why.

A person who pressed "Link GitHub" and lands on a second sign-in page, or who pressed
"Unlink" and is asked to sign in as themselves again, should not have to guess. Auth0's
Universal Login can show such text from the authorize request's context; the dev tenant
builds it from what it knows: the client asking, `prompt`/`max_age`, `connection_scope`, and,
for linker's nested login, the application's login that the Action suspended in this browser
(its `requested_connection` and whether it asked to link or to unlink).
"""

from __future__ import annotations

from linker.devtenant.authorize_request import AuthRequest
from linker.devtenant.state import SuspendedLogin, TenantState

LINK_SCOPE, UNLINK_SCOPE = "link_account", "unlink_account"


def purpose_line(tenant: TenantState, auth: AuthRequest, session_id: str | None) -> str:
    """What the login page says about why it is shown (plain text; the page escapes it)."""
    asking = _client_name(tenant, auth.client_id)
    if auth.client_id == tenant.action_secrets.get("LINKER_CLIENT_ID"):
        waiting = _waiting_login(tenant, session_id)
        if waiting is not None:
            return _nested_login(tenant, waiting, asking) + _scopes(auth)
        return (
            f"{asking} asks you to sign in because an application asked to link or unlink an "
            "account." + _scopes(auth)
        )
    wanted = auth.query.get("requested_connection", "")
    if LINK_SCOPE in auth.scopes and wanted:
        return (
            f"{asking} asks you to sign in first; then it links a {wanted} account to yours "
            "through linker."
        )
    if auth.forces_login:
        return f"{asking} asks you to sign in again, even if you are signed in (prompt=login)."
    return f"{asking} asks you to sign in."


def _nested_login(tenant: TenantState, waiting: SuspendedLogin, asking: str) -> str:
    app = _client_name(tenant, waiting.request.client_id)
    user = tenant.directory.get(waiting.user_id)
    who = (user.profile.email or user.user_id) if user is not None else waiting.user_id
    wanted = waiting.request.query.get("requested_connection") or "another"
    if UNLINK_SCOPE in waiting.request.scopes:
        return (
            f"{app} asked to unlink your {wanted} account from {who}. {asking} needs proof that "
            f"it is you, so sign in again as {who}, even though you are signed in."
        )
    return (
        f"{app} asked to link a {wanted} account to {who}. {asking} asks you to sign in to the "
        f"{wanted} account you want to add; it checks that account before anything is linked."
    )


def _scopes(auth: AuthRequest) -> str:
    if not auth.connection_scopes:
        return ""
    return f" The sign-in also asks {auth.connection} for: {' '.join(auth.connection_scopes)}."


def _waiting_login(tenant: TenantState, session_id: str | None) -> SuspendedLogin | None:
    """The newest login of this browser's session that an Action sent to linker."""
    if not session_id:
        return None
    waiting = [
        s
        for s in tenant.suspended.values()
        if s.session_id == session_id
        and (LINK_SCOPE in s.request.scopes or UNLINK_SCOPE in s.request.scopes)
    ]
    return max(waiting, key=lambda s: s.created, default=None)


def _client_name(tenant: TenantState, client_id: str) -> str:
    client = tenant.seed.client(client_id)
    return client.name if client is not None else client_id
