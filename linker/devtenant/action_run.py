"""The post-login Action, run in one place: its event, the run, and what it asked applied.

Every transaction runs it through `run_action`: a login (`/authorize` with an SSO session,
the login page, `/continue` after a redirect: protocol `oidc-basic-profile`, `postlogin.py`)
and the token requests, which are not interactive (a refresh token grant,
`oauth2-refresh-token`; a password grant, `oauth2-resource-owner`: `token_endpoint.py`).
What the Action asked is applied here, after it ran:

- `api.user.setUserMetadata` / `setAppMetadata`: Auth0 applies them after the Actions, in one
  update of the user, even when the login is then denied (post-login API object:
  https://auth0.com/docs/customize/actions/explore-triggers/signup-and-login-triggers/login-trigger/post-login-api-object).
- `api.authentication.recordMethod(url)`: the session's `authentication.methods` gains it.
- `api.authentication.challengeWith` and its siblings: a user with no enrolled factor is let
  through (Auth0 ignores a factor the user has not enrolled); a session that already did MFA
  satisfies it; anything else would need the MFA prompt the dev tenant does not model, so the
  login fails with a message that says so. Only interactive transactions read these two.
- `api.authentication.setPrimaryUser(id)`: once per transaction (the worker refuses a second
  call); the login then ends as that user, whose identities must include the one the user
  signed in with, else the login fails (`postlogin.switch_primary`; post-login API object, and
  https://auth0.com/docs/users/link-user-accounts: Auth0 does not switch by itself after a
  link made during the login).
- `api.redirect.sendUserTo`: where `api.redirect.canRedirect()` is false (`prompt=none`, or a
  protocol without a browser) the transaction fails, as Auth0 refuses a redirect there
  (https://auth0.com/docs/customize/actions/explore-triggers/signup-and-login-triggers/login-trigger/redirect-with-actions);
  a shim that forgets to skip such a protocol is caught here. Elsewhere the caller suspends
  the login.

A throw, a deny, an unmet challenge or a refused redirect is an `OAuthError`, which the caller
answers in its own way (a login at `redirect_uri`, a token request as JSON);
`ActionWorkerError` means the Action could not run at all.
"""

from __future__ import annotations

from typing import Any

from linker.devtenant.action_event import (
    PROTOCOLS,
    ActionOutcome,
    RequestInfo,
    build_event,
    can_redirect,
)
from linker.devtenant.action_runner import ActionRunner
from linker.devtenant.authorize_request import AuthRequest
from linker.devtenant.directory import User
from linker.devtenant.errors import OAuthError
from linker.devtenant.seed import Client, Connection
from linker.devtenant.state import AuthMethod, Session, TenantState

GRANT_NAMES = {"oauth2-refresh-token": "refresh token", "oauth2-resource-owner": "password"}


async def run_action(
    runner: ActionRunner,
    tenant: TenantState,
    *,
    protocol: str,
    client: Client,
    user: User,
    connection: Connection,
    session: Session,
    request: RequestInfo,
    auth: AuthRequest | None = None,
    scopes: tuple[str, ...] = (),
    trigger: str = "onExecutePostLogin",
    continue_state: str | None = None,
    primary_user_set: bool = False,
) -> ActionOutcome:
    """Run `trigger` for this transaction and apply what the Action asked.

    `auth` is the `/authorize` request of a login, None in a token request (whose `scopes`
    the event then lists). Returns the outcome (claims, and a redirect the caller may follow);
    raises `OAuthError` when the Action refused the transaction.
    """
    silent = auth is not None and auth.silent
    event = build_event(
        tenant_domain=tenant.domain,
        client=client,
        user=user,
        connection=connection,
        session=session,
        auth=auth,
        protocol=protocol,
        request=request,
        secrets=tenant.action_secrets,
        scopes=scopes,
    )
    context = {
        "now": int(tenant.now()),
        "issuer": tenant.domain,
        "continueState": continue_state,
        "canRedirect": can_redirect(protocol, silent=silent),
        "primaryUserSet": primary_user_set,
    }
    outcome = await runner.run(trigger, event, context)
    # Auth0 fails the login with the message of an Action that throws, as with a deny.
    if outcome.thrown is not None:
        raise OAuthError(403, "access_denied", outcome.thrown)
    apply_user_changes(tenant, user, outcome)  # kept even when the login is then denied
    if outcome.deny is not None:
        raise OAuthError(403, "access_denied", outcome.deny)
    if PROTOCOLS.get(protocol, False):
        unmet = apply_session_changes(tenant, user, session, outcome)
        if unmet is not None:
            raise OAuthError(403, "access_denied", unmet)
    if outcome.redirect_url is not None and not can_redirect(protocol, silent=silent):
        if silent:
            raise OAuthError(
                400, "interaction_required", "A redirect Action cannot run with prompt=none"
            )
        grant = GRANT_NAMES.get(protocol, protocol)
        raise OAuthError(403, "access_denied", f"A redirect Action cannot run in a {grant} grant")
    return outcome


def apply_user_changes(tenant: TenantState, user: User, outcome: ActionOutcome) -> None:
    patch: dict[str, Any] = {}
    if outcome.user_metadata:
        patch["user_metadata"] = dict(outcome.user_metadata)
    if outcome.app_metadata:
        patch["app_metadata"] = dict(outcome.app_metadata)
    if patch:
        tenant.directory.patch(user.user_id, patch)


def apply_session_changes(
    tenant: TenantState, user: User, session: Session, outcome: ActionOutcome
) -> str | None:
    """Record methods; a reason to fail the login when a challenge cannot be met here."""
    now = tenant.now()
    for url in outcome.recorded_methods:
        session.methods = (*session.methods, AuthMethod(url, now))
    if outcome.challenge is None:
        return None
    kind = str(outcome.challenge.get("kind", ""))
    if kind.startswith("challenge") and not user.enrolled_factors:
        return None
    if kind.startswith("challenge") and any(m.name == "mfa" for m in session.methods):
        return None
    return f"api.authentication.{kind} needs an MFA prompt, which the dev tenant does not model"
