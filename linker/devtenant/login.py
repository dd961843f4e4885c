"""The browser side of the tenant: `/authorize`, the login pages, `/continue`, `/v2/logout`.

`/authorize` checks the request, then either reuses the SSO session (the `auth0` cookie) or
sends the browser to `/login?state=...`, which shows the connection chooser or one
connection's accounts. Choosing an account signs in as the user that owns that identity and
runs the post-login pipeline; an Action redirect comes back through `/continue`. Refusals
are raised as `ErrorPage` or `AuthorizeRedirect`, which the app renders.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from linker.devtenant import my_account_policy, provider_session, resume_binding
from linker.devtenant.authorize_request import AuthRequest, parse_authorize
from linker.devtenant.errors import ErrorPage
from linker.devtenant.login_context import purpose_line
from linker.devtenant.pages import LoginChoice, NextStep, connection_chooser, login_page
from linker.devtenant.postlogin import request_info, run_post_login
from linker.devtenant.state import AuthMethod, Session, TenantState
from linker.devtenant.web import read_form, tenant_of

SESSION_COOKIE = "auth0"


async def authorize(request: Request) -> Response:
    tenant = tenant_of(request)
    auth = parse_authorize(
        dict(request.query_params),
        tenant.seed,
        transaction_id=secrets.token_urlsafe(16),
        builtin_apis=frozenset({tenant.my_account_audience}),
    )
    session = _reusable_session(tenant, auth, request.cookies.get(SESSION_COOKIE))
    if session is not None and not _meets_my_account_policy(tenant, auth, session):
        if auth.silent:
            raise auth.refusal(
                *my_account_policy.silent_refusal(tenant.directory.require(session.user_id))
            )
        session = None  # a new login, with the second factor, meets it
    if session is not None:
        info = request_info(request, auth.query, {})
        return await run_post_login(request, auth, session, info=info)
    if auth.silent:
        raise auth.refusal("login_required", "Login required")
    key = tenant.new_pending(auth)
    return RedirectResponse("/login?" + urlencode({"state": key}), status_code=302)


def _meets_my_account_policy(tenant: TenantState, auth: AuthRequest, session: Session) -> bool:
    """The My Account API's Default Policy, for a login that reuses the SSO session."""
    if not my_account_policy.applies(tenant, auth.audience):
        return True
    user = tenant.directory.require(session.user_id)
    return my_account_policy.session_meets(tenant, user, session.methods, session.auth_time)


def _reusable_session(tenant: TenantState, auth: AuthRequest, cookie: str | None) -> Session | None:
    session = tenant.session(cookie)
    if session is None or auth.forces_login:
        return None
    if auth.max_age is not None and tenant.now() - session.auth_time > auth.max_age:
        return None
    if auth.connection is not None and auth.connection != session.connection:
        return None
    return session


async def login_form(request: Request) -> Response:
    tenant = tenant_of(request)
    key = request.query_params.get("state", "")
    pending = tenant.pending_login(key)
    if pending is None:
        raise _used_or_expired(request, "This login has expired or was already used.")
    auth = pending.request
    client = tenant.seed.client(auth.client_id)
    client_name = client.name if client else auth.client_id
    connection = auth.connection or request.query_params.get("connection")
    purpose = purpose_line(tenant, auth, request.cookies.get(SESSION_COOKIE))
    if connection is None:
        names = [c.name for c in tenant.seed.connections if c.for_login]
        return HTMLResponse(
            connection_chooser(
                state=key, client_name=client_name, connections=names, purpose=purpose
            )
        )
    found = tenant.seed.connection(connection)
    if found is None or not found.for_login:
        raise ErrorPage(400, "Unknown connection", connection)
    remembered = provider_session.signed_in(request, found)
    if remembered is not None:  # the provider answers at once, as the account signed in there
        return await _sign_in(request, key, remembered, mfa=False)
    choices = [
        LoginChoice(
            identity_id=identity.full_id,
            email=identity.profile.email,
            name=identity.profile.name,
            signs_in_as=user.user_id,
            mfa=bool(user.enrolled_factors),
        )
        for user, identity in tenant.directory.identities_of(connection)
    ]
    page = login_page(
        state=key, client_name=client_name, connection=connection, choices=choices, purpose=purpose
    )
    return HTMLResponse(page)


async def login_submit(request: Request) -> Response:
    tenant = tenant_of(request)
    form = await read_form(request)
    key = form.get("state", "")
    pending = tenant.pending_login(key)
    if pending is None:
        raise _used_or_expired(request, "This login has expired or was already used.")
    auth = pending.request
    if form.get("action") == "cancel":
        tenant.pending.pop(key, None)
        raise auth.refusal("access_denied", "The user cancelled the login")
    if "user_id" not in form:
        query = urlencode({"state": key, "connection": form.get("connection", "")})
        return RedirectResponse("/login?" + query, status_code=303)
    return await _sign_in(request, key, form["user_id"], mfa=form.get("mfa") == "1")


async def _sign_in(request: Request, key: str, identity_id: str, *, mfa: bool) -> Response:
    """Sign the pending login `key` in as the user that owns `identity_id`."""
    tenant = tenant_of(request)
    pending = tenant.pending_login(key)
    if pending is None:
        raise ErrorPage(400, "Invalid state", "This login has expired or was already used.")
    auth = pending.request
    found = tenant.directory.owner_of(identity_id)
    if found is None:
        raise ErrorPage(400, "Unknown account", identity_id)
    user, identity = found
    if auth.connection is not None and identity.connection != auth.connection:
        raise ErrorPage(400, "Wrong connection", f"This login only accepts {auth.connection}.")
    connection = tenant.seed.connection(identity.connection)
    assert connection is not None  # the seed validated every identity's connection
    if not connection.for_login:
        raise ErrorPage(400, "Wrong connection", f"{connection.name} is not used to log in.")
    now = tenant.now()
    methods = [AuthMethod("federated" if connection.is_social else "pwd", now)]
    if mfa and user.enrolled_factors:
        methods.append(AuthMethod("mfa", now))
    if my_account_policy.applies(tenant, auth.audience):
        refused = my_account_policy.login_refusal(user, methods)
        if refused is not None:
            tenant.pending.pop(key, None)
            raise auth.refusal("access_denied", refused)
    if connection.is_social:
        # The upstream login leaves a tokenset behind (Token Vault), with what was asked.
        user.record_grant(identity, (*connection.default_scopes, *auth.connection_scopes))
    session = tenant.new_session(user.user_id, identity.full_id, connection.name, tuple(methods))
    tenant.pending.pop(key, None)
    info = request_info(request, auth.query, {})
    response = await run_post_login(request, auth, session, info=info)
    _set_session_cookie(tenant, response, session)
    return response


async def continue_login(request: Request) -> Response:
    """Where an Action's redirect comes back; the `state` names the suspended login."""
    tenant = tenant_of(request)
    query = dict(request.query_params)
    body = await read_form(request) if request.method == "POST" else {}
    key = body.get("state") or query.get("state") or ""
    waiting = tenant.peek_suspended(key)
    # Checked before the login is taken: another browser's request must not end it either.
    if waiting is None or not resume_binding.holds(request, key, waiting.binding):
        raise _used_or_expired(request, "No login is waiting for this state in this browser.")
    suspended = tenant.take_suspended(key)
    auth = suspended.request
    session = tenant.session(suspended.session_id)
    if session is None:
        raise auth.refusal("access_denied", "The session has ended")
    response = await run_post_login(
        request,
        auth,
        session,
        trigger="onContinuePostLogin",
        info=request_info(request, query, body),
        continue_state=key,
        id_token_claims=suspended.id_token_claims,
        access_token_claims=suspended.access_token_claims,
        primary_user_set=suspended.primary_user_set,
    )
    # A nested login in between (linker's) replaced the SSO session: this user's comes back.
    _set_session_cookie(tenant, response, session)
    resume_binding.release(response, key)
    return response


async def logout(request: Request) -> Response:
    tenant = tenant_of(request)
    tenant.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    return_to = request.query_params.get("returnTo")
    client = tenant.seed.client(request.query_params.get("client_id", ""))
    if return_to is None:
        response: Response = HTMLResponse("<!doctype html><p>You are signed out.</p>")
    elif client is None or return_to not in client.allowed_logout_urls:
        # As Auth0: with a client_id, returnTo must be one of the application's Allowed
        # Logout URLs (https://auth0.com/docs/authenticate/login/logout/redirect-users-after-logout).
        raise ErrorPage(400, "Invalid returnTo", "returnTo is not allowed for this client.")
    else:
        response = RedirectResponse(return_to, status_code=302)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _set_session_cookie(tenant: TenantState, response: Response, session: Session) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        httponly=True,
        samesite="lax",
        secure=tenant.base_url.startswith("https://"),
        path="/",
    )


def _used_or_expired(request: Request, detail: str) -> ErrorPage:
    """Auth0's "Invalid state" error (it shows one too when no default login route is set),
    saying where to go next: typically Back after a finished login, whose application is
    the last one this browser's session was answered to."""
    session = tenant_of(request).session(request.cookies.get(SESSION_COOKIE))
    if session is not None and session.returned_to is not None:
        name, home = session.returned_to
        step = NextStep(
            f"That login is over (the Back button brings you to its old pages). Return to {name}:",
            (home, home),
        )
    else:
        step = NextStep(
            "Return to the application you came from and start again there; a login cannot be "
            "resumed from an old page."
        )
    return ErrorPage(400, "Invalid state", detail, next_step=step)
