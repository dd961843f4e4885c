"""The post-login pipeline of a login: run the Action, then deny, suspend, or issue the code.

Runs after a login page, on an SSO `/authorize`, and again at `/continue` when an Action that
redirected (`api.redirect.sendUserTo`) gets the user back. Custom claims set in any of those
runs reach the ID token, as in Auth0.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from linker.devtenant import resume_binding
from linker.devtenant.action_event import RequestInfo
from linker.devtenant.action_run import run_action
from linker.devtenant.action_runner import ActionWorkerError
from linker.devtenant.authorize_request import AuthRequest, origin_of, with_query
from linker.devtenant.directory import User
from linker.devtenant.errors import ErrorPage, OAuthError
from linker.devtenant.state import LOGIN_TTL, IssuedCode, Session, SuspendedLogin, TenantState
from linker.devtenant.web import actions_of, client_ip, tenant_of

logger = logging.getLogger("linker.devtenant")

INTERACTIVE_PROTOCOL = "oidc-basic-profile"


def request_info(
    request: Request, query: Mapping[str, str], body: Mapping[str, str]
) -> RequestInfo:
    return RequestInfo(
        ip=client_ip(request),
        hostname=request.url.hostname or "",
        method=request.method,
        query=query,
        body=body,
        user_agent=request.headers.get("user-agent"),
    )


async def run_post_login(
    request: Request,
    auth: AuthRequest,
    session: Session,
    *,
    trigger: str = "onExecutePostLogin",
    info: RequestInfo,
    continue_state: str | None = None,
    id_token_claims: Mapping[str, Any] | None = None,
    access_token_claims: Mapping[str, Any] | None = None,
    primary_user_set: bool = False,
) -> Response:
    tenant = tenant_of(request)
    # Every caller has just found the session live, so its user exists; a new seed ends every
    # session and login, so the client and the connection are this seed's.
    user = tenant.directory.get(session.user_id)
    client = tenant.seed.client(auth.client_id)
    connection = tenant.seed.connection(session.connection)
    assert user is not None and client is not None and connection is not None
    try:
        outcome = await run_action(
            actions_of(request),
            tenant,
            protocol=INTERACTIVE_PROTOCOL,
            client=client,
            user=user,
            connection=connection,
            session=session,
            request=info,
            auth=auth,
            trigger=trigger,
            continue_state=continue_state,
            primary_user_set=primary_user_set,
        )
        if outcome.primary_user is not None:
            user = switch_primary(tenant, session, outcome.primary_user)
    except ActionWorkerError as exc:
        logger.error("post-login Action failed to run: %s", exc)
        return ErrorPage(500, "The post-login Action could not run", str(exc)).response()
    except OAuthError as exc:
        return auth.refusal(exc.error, exc.description).response()
    id_claims = {**(id_token_claims or {}), **outcome.id_token_claims}
    at_claims = {**(access_token_claims or {}), **outcome.access_token_claims}
    if outcome.redirect_url is not None:  # run_action refused it where it cannot happen
        binding = resume_binding.new_binding()
        state = tenant.suspend(
            SuspendedLogin(
                request=auth,
                session_id=session.id,
                user_id=user.user_id,
                id_token_claims=id_claims,
                access_token_claims=at_claims,
                created=tenant.now(),
                binding=binding,
                primary_user_set=primary_user_set or outcome.primary_user is not None,
            )
        )
        response = _redirect(
            with_query(outcome.redirect_url, {**outcome.redirect_query, "state": state})
        )
        resume_binding.bind(response, state, binding, max_age=LOGIN_TTL)
        return response
    code = tenant.issue_code(
        IssuedCode(
            request=auth,
            user_id=user.user_id,
            session_id=session.id,
            auth_time=session.auth_time,
            id_token_claims=id_claims,
            access_token_claims=at_claims,
            issued_at=tenant.now(),
        )
    )
    params = {"code": code}
    if auth.state is not None:
        params["state"] = auth.state
    session.returned_to = (client.name, origin_of(auth.redirect_uri) + "/")
    return _redirect(with_query(auth.redirect_uri, params))


def switch_primary(tenant: TenantState, session: Session, primary_id: str) -> User:
    """`api.authentication.setPrimaryUser`: the login (and its SSO session) ends as the
    primary, which must hold the identity the user signed in with (post-login API object:
    https://auth0.com/docs/customize/actions/explore-triggers/signup-and-login-triggers/login-trigger/post-login-api-object)."""
    primary = tenant.directory.get(primary_id)
    if primary is None or primary.identity(session.identity_id) is None:
        raise OAuthError(
            403,
            "access_denied",
            "setPrimaryUser: the identity of this login is not linked to that user",
        )
    session.user_id = primary.user_id
    return primary


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=302)
