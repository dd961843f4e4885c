"""The post-login Action in a token request: a refresh token grant or a password grant.

These transactions are not interactive (`oauth2-refresh-token`, `oauth2-resource-owner`): the
Action runs with `api.redirect.canRedirect()` false, and a redirect it asks for fails the
request, as Auth0 refuses a redirect without a browser
(https://auth0.com/docs/customize/actions/explore-triggers/signup-and-login-triggers/login-trigger/redirect-with-actions).
A shim that forgets to skip such a protocol is caught here.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request

from linker.devtenant.action_effects import apply_user_changes
from linker.devtenant.action_event import ActionOutcome, RequestInfo, build_event, can_redirect
from linker.devtenant.action_runner import ActionWorkerError
from linker.devtenant.directory import User
from linker.devtenant.errors import OAuthError
from linker.devtenant.seed import Client, Connection
from linker.devtenant.state import Session, TenantState
from linker.devtenant.web import actions_of, client_ip

GRANT_NAMES = {"oauth2-refresh-token": "refresh token", "oauth2-resource-owner": "password"}


async def run_token_action(
    request: Request,
    tenant: TenantState,
    *,
    client: Client,
    user: User,
    connection: Connection,
    session: Session,
    protocol: str,
    body: Mapping[str, str],
    scopes: tuple[str, ...],
) -> ActionOutcome:
    """Run `onExecutePostLogin` for a token request; refusals become `OAuthError`s."""
    event = build_event(
        tenant_domain=tenant.domain,
        client=client,
        user=user,
        connection=connection,
        session=session,
        auth=None,
        protocol=protocol,
        request=RequestInfo(
            ip=client_ip(request),
            hostname=request.url.hostname or "",
            method="POST",
            query={},
            body=body,
        ),
        secrets=tenant.action_secrets,
        scopes=scopes,
    )
    context = {
        "now": int(tenant.now()),
        "issuer": tenant.domain,
        "continueState": None,
        "canRedirect": can_redirect(protocol, silent=True),
    }
    try:
        outcome = await actions_of(request).run("onExecutePostLogin", event, context)
    except ActionWorkerError as exc:
        raise OAuthError(
            500, "server_error", f"The post-login Action could not run: {exc}"
        ) from exc
    if outcome.thrown is not None:
        raise OAuthError(403, "access_denied", outcome.thrown)
    apply_user_changes(tenant, user, outcome)
    if outcome.deny is not None:
        raise OAuthError(403, "access_denied", outcome.deny)
    if outcome.redirect_url is not None:
        grant = GRANT_NAMES.get(protocol, protocol)
        raise OAuthError(403, "access_denied", f"A redirect Action cannot run in a {grant} grant")
    return outcome
