"""The My Account API's Connected Accounts endpoints, and the connect page they send users to.

The flow Auth0 documents for Token Vault's connected accounts
(https://auth0.com/docs/secure/tokens/token-vault/connected-accounts-for-token-vault, API
reference https://auth0.com/docs/api/myaccount/connected-accounts/create-a-connected-account-request
and .../complete-a-connected-account-request):

1. The app holds the user's access token for the My Account API (`audience=https://DOMAIN/me/`,
   scope `create:me:connected_accounts`) and posts `/me/v1/connected-accounts/connect` with
   `connection`, `redirect_uri` (one of the app's callbacks), `state`, a PKCE challenge and the
   upstream `scopes`; the answer is `{connect_uri, auth_session, connect_params: {ticket},
   expires_in}`.
2. The browser goes to `connect_uri?ticket=...`, the user authorizes the provider, and comes back
   to `redirect_uri?connect_code=...&state=...` (or `error=access_denied`).
3. The app posts `/me/v1/connected-accounts/complete` with `auth_session`, `connect_code`,
   `redirect_uri` and the PKCE verifier; the answer is the connected account (201). From then on
   Token Vault answers for that connection from this account (`token_vault.py`).

Errors are `application/problem+json` (`type`, `title`, `status`, `detail`), as Auth0's newer
APIs answer. Every answer carries `x-ratelimit-*` (the API reference lists them).
The upstream provider is not modelled: allowing at the connect page grants what was asked,
plus the connection's default scopes.
"""

from __future__ import annotations

import hmac
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from linker.core.pkce import s256_challenge
from linker.devtenant.authorize_request import S256_CHALLENGE, with_query
from linker.devtenant.errors import ErrorPage, ProblemError
from linker.devtenant.pages import connect_page
from linker.devtenant.seed import ConnectedAccount
from linker.devtenant.state import CONNECT_TTL, ConnectSession, TenantState
from linker.devtenant.token_claims import check_access_token, scopes_of
from linker.devtenant.web import read_form, tenant_of

CREATE, READ, DELETE = (
    "create:me:connected_accounts",
    "read:me:connected_accounts",
    "delete:me:connected_accounts",
)


def _answer(tenant: TenantState, body: Any, status: int) -> Response:
    headers, _ = tenant.rate_limit()
    if body is None:
        return Response(status_code=status, headers=headers)
    return Response(
        json.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def _problem(tenant: TenantState, problem: ProblemError) -> Response:
    headers, _ = tenant.rate_limit()
    return problem.response(headers)


def _user_of(tenant: TenantState, request: Request, scope: str) -> tuple[str, str]:
    """(user id, client id) of a valid My Account API token carrying `scope`."""
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise ProblemError(
            401, "Unauthorized", "A bearer token for the My Account API is required."
        )
    try:
        claims = check_access_token(
            tenant.keys.verify(token.strip()),
            issuer=tenant.issuer,
            audience=tenant.my_account_audience,
            now=tenant.now(),
        )
    except ValueError:
        raise ProblemError(
            401, "Unauthorized", "The token is not for the My Account API."
        ) from None
    if scope not in scopes_of(claims):
        raise ProblemError(403, "Forbidden", f"Insufficient scope, expected: {scope}")
    subject, client_id = claims.get("sub"), claims.get("azp")
    if not isinstance(subject, str) or not isinstance(client_id, str):
        raise ProblemError(401, "Unauthorized", "The token names no user.")
    if tenant.directory.get(subject) is None:
        raise ProblemError(401, "Unauthorized", "The user no longer exists.")
    return subject, client_id


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise ProblemError(400, "Bad Request", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ProblemError(400, "Bad Request", "The body must be a JSON object.")
    return body


def _string(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ProblemError(400, "Bad Request", f"{name} is required and must be a string.")
    return value


async def connect(request: Request) -> Response:
    """POST /me/v1/connected-accounts/connect: start a connect flow."""
    tenant = tenant_of(request)
    try:
        user_id, client_id = _user_of(tenant, request, CREATE)
        body = await _body(request)
        name = _string(body, "connection")
        redirect_uri = _string(body, "redirect_uri")
        assert name is not None and redirect_uri is not None
        connection = tenant.seed.connection(name)
        if connection is None or not connection.vault_reads_connected_accounts:
            raise ProblemError(
                400, "Bad Request", f"{name} is not enabled for Connected Accounts for Token Vault."
            )
        client = tenant.seed.client(client_id)
        if client is None or redirect_uri not in client.callbacks:
            raise ProblemError(400, "Bad Request", "redirect_uri is not an allowed callback URL.")
        challenge = _string(body, "code_challenge", required=False)
        if challenge is not None and (
            body.get("code_challenge_method") != "S256" or not S256_CHALLENGE.fullmatch(challenge)
        ):
            raise ProblemError(400, "Bad Request", "code_challenge must be an S256 challenge.")
        scopes = body.get("scopes", [])
        if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
            raise ProblemError(400, "Bad Request", "scopes must be a list of strings.")
        state = _string(body, "state", required=False)
    except ProblemError as problem:
        return _problem(tenant, problem)
    auth_session, ticket = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    tenant.expire_connects()
    tenant.connects[auth_session] = ConnectSession(
        user_id=user_id,
        client_id=client_id,
        connection=name,
        redirect_uri=redirect_uri,
        state=state,
        code_challenge=challenge,
        scopes=tuple(scopes),
        ticket=ticket,
        created=tenant.now(),
    )
    answer = {
        "connect_uri": f"{tenant.base_url}/connect",
        "auth_session": auth_session,
        "connect_params": {"ticket": ticket},
        "expires_in": CONNECT_TTL,
    }
    return _answer(tenant, answer, 201)


async def complete(request: Request) -> Response:
    """POST /me/v1/connected-accounts/complete: the connect code becomes a connected account."""
    tenant = tenant_of(request)
    try:
        user_id, _ = _user_of(tenant, request, CREATE)
        body = await _body(request)
        auth_session = _string(body, "auth_session") or ""
        code = _string(body, "connect_code") or ""
        redirect_uri = _string(body, "redirect_uri")
        verifier = _string(body, "code_verifier", required=False)
        pending = tenant.connects.get(auth_session)
        if (
            pending is None
            or pending.user_id != user_id
            or pending.connect_code is None
            or not hmac.compare_digest(pending.connect_code.encode(), code.encode())
            or tenant.now() - pending.created > CONNECT_TTL
        ):
            raise ProblemError(400, "Bad Request", "The connect session or code is invalid.")
        del tenant.connects[auth_session]  # one use, whatever follows
        if redirect_uri != pending.redirect_uri:
            raise ProblemError(
                400, "Bad Request", "redirect_uri does not match the connect request."
            )
        if pending.code_challenge is not None and (
            verifier is None
            or not hmac.compare_digest(s256_challenge(verifier), pending.code_challenge)
        ):
            raise ProblemError(400, "Bad Request", "code_verifier does not match code_challenge.")
    except ProblemError as problem:
        return _problem(tenant, problem)
    connection = tenant.seed.connection(pending.connection)
    assert connection is not None
    account = ConnectedAccount(
        id="cac_" + secrets.token_hex(8),
        connection=connection.name,
        scopes=frozenset((*connection.default_scopes, *pending.scopes)),
        created_at=tenant.now(),
    )
    tenant.directory.connect(user_id, account)
    return _answer(tenant, account_json(account), 201)


async def list_accounts(request: Request) -> Response:
    """GET /me/v1/connected-accounts."""
    tenant = tenant_of(request)
    try:
        user_id, _ = _user_of(tenant, request, READ)
    except ProblemError as problem:
        return _problem(tenant, problem)
    user = tenant.directory.require(user_id)
    return _answer(tenant, {"accounts": [account_json(a) for a in user.connected_accounts]}, 200)


async def delete_account(request: Request) -> Response:
    """DELETE /me/v1/connected-accounts/{id}: Token Vault forgets that account's tokens."""
    tenant = tenant_of(request)
    try:
        user_id, _ = _user_of(tenant, request, DELETE)
    except ProblemError as problem:
        return _problem(tenant, problem)
    user = tenant.directory.require(user_id)
    wanted = request.path_params["account_id"]
    kept = [a for a in user.connected_accounts if a.id != wanted]
    if len(kept) == len(user.connected_accounts):
        return _problem(tenant, ProblemError(404, "Not Found", "No such connected account."))
    user.connected_accounts = kept
    return _answer(tenant, None, 204)


def account_json(account: ConnectedAccount) -> dict[str, Any]:
    created = datetime.fromtimestamp(account.created_at, UTC).isoformat(timespec="seconds")
    return {
        "id": account.id,
        "connection": account.connection,
        "access_type": "offline",
        "created_at": created.replace("+00:00", "Z"),
        "scopes": sorted(account.scopes),
    }


def _by_ticket(tenant: TenantState, ticket: str) -> tuple[str, ConnectSession] | None:
    for key, pending in tenant.connects.items():
        fresh = tenant.now() - pending.created <= CONNECT_TTL
        unused = pending.connect_code is None
        if fresh and unused and hmac.compare_digest(pending.ticket.encode(), ticket.encode()):
            return key, pending
    return None


async def connect_form(request: Request) -> Response:
    """GET /connect?ticket=...: the user is asked to allow the provider's scopes."""
    tenant = tenant_of(request)
    ticket = request.query_params.get("ticket", "")
    found = _by_ticket(tenant, ticket)
    if found is None:
        raise ErrorPage(400, "Invalid ticket", "This connect request expired or was used.")
    _, pending = found
    user = tenant.directory.require(pending.user_id)
    connection = tenant.seed.connection(pending.connection)
    assert connection is not None
    scopes = sorted({*connection.default_scopes, *pending.scopes})
    page = connect_page(
        ticket=ticket,
        connection=pending.connection,
        user=user.profile.email or user.user_id,
        scopes=scopes,
    )
    return HTMLResponse(page)


async def connect_submit(request: Request) -> Response:
    """POST /connect: allowed, back to the app with a connect code; denied, with an error."""
    tenant = tenant_of(request)
    form = await read_form(request)
    found = _by_ticket(tenant, form.get("ticket", ""))
    if found is None:
        raise ErrorPage(400, "Invalid ticket", "This connect request expired or was used.")
    key, pending = found
    params: dict[str, str]
    if form.get("action") == "allow":
        pending.connect_code = secrets.token_urlsafe(24)[:32]
        params = {"connect_code": pending.connect_code}
    else:
        del tenant.connects[key]
        params = {"error": "access_denied", "error_description": "The user did not allow it"}
    if pending.state is not None:
        params["state"] = pending.state
    return RedirectResponse(with_query(pending.redirect_uri, params), status_code=302)


routes = [
    Route("/me/v1/connected-accounts/connect", connect, methods=["POST"]),
    Route("/me/v1/connected-accounts/complete", complete, methods=["POST"]),
    Route("/me/v1/connected-accounts", list_accounts, methods=["GET"]),
    Route("/me/v1/connected-accounts/{account_id}", delete_account, methods=["DELETE"]),
    Route("/connect", connect_form, methods=["GET"]),
    Route("/connect", connect_submit, methods=["POST"]),
]
