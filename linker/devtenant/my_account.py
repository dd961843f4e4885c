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

Managing them (same page, "Manage Connected Accounts"): `GET /me/v1/connected-accounts/accounts`
(optionally `?connection=`, scope `read:me:connected_accounts`) and
`DELETE /me/v1/connected-accounts/accounts/{id}` (`delete:me:connected_accounts`, 204).

Where the dev tenant chooses, for what Auth0 documents but does not specify:
- `/complete` "from the same device that initiated the flow": the connect page releases a
  `connect_code` only to a browser signed in (SSO session) as the user who started the flow,
  and `/complete` takes it only with a token of that user and that application. A connect
  link sent to someone else's browser (the connected-accounts form of login CSRF, which would
  put the victim's tokens under the attacker's user) is refused there.
- Several accounts at one provider (work and personal GitHub): the connect page lists the
  user's accounts at the provider (seed `provider_accounts`); `authorization_params.login_hint`
  (as Auth0's SDKs forward it) narrows the list to the account it names, as a provider's own
  login hint does. Each is its own connected account; Token Vault picks one by `login_hint`
  (https://auth0.com/docs/secure/call-apis-on-users-behalf/token-vault/refresh-token-exchange-with-token-vault).
- The Default Policy (2FA within 15 minutes) is enforced where Auth0 says, when the token is
  issued (`my_account_policy.py`), not on each call here.

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
from linker.devtenant.directory import User
from linker.devtenant.errors import ErrorPage, ProblemError
from linker.devtenant.login import SESSION_COOKIE
from linker.devtenant.pages import connect_page
from linker.devtenant.seed import ConnectedAccount, ProviderAccount
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


def _login_hint(body: dict[str, Any]) -> str | None:
    """`authorization_params.login_hint`: the provider account to connect (the other
    parameters are the provider's business, not modelled here)."""
    params = body.get("authorization_params", {})
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise ProblemError(400, "Bad Request", "authorization_params must map names to strings.")
    hint = params.get("login_hint")
    if hint is not None and not 0 < len(hint) <= 512:
        raise ProblemError(400, "Bad Request", "login_hint must be 1 to 512 characters.")
    return hint or None


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
        login_hint = _login_hint(body)
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
        login_hint=login_hint,
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
        user_id, client_id = _user_of(tenant, request, CREATE)
        body = await _body(request)
        auth_session = _string(body, "auth_session") or ""
        code = _string(body, "connect_code") or ""
        redirect_uri = _string(body, "redirect_uri")
        verifier = _string(body, "code_verifier", required=False)
        pending = tenant.connects.get(auth_session)
        if (
            pending is None
            or pending.user_id != user_id
            or pending.client_id != client_id
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
        account=pending.account,
    )
    tenant.directory.connect(user_id, account)
    return _answer(tenant, account_json(account), 201)


async def list_accounts(request: Request) -> Response:
    """GET /me/v1/connected-accounts/accounts[?connection=NAME]."""
    tenant = tenant_of(request)
    try:
        user_id, _ = _user_of(tenant, request, READ)
    except ProblemError as problem:
        return _problem(tenant, problem)
    user = tenant.directory.require(user_id)
    wanted = request.query_params.get("connection")
    listed = [a for a in user.connected_accounts if wanted in (None, a.connection)]
    return _answer(tenant, {"accounts": [account_json(a) for a in listed]}, 200)


async def delete_account(request: Request) -> Response:
    """DELETE /me/v1/connected-accounts/accounts/{id}: Token Vault forgets that account's
    tokens (the provider's own tokens are not revoked, as Auth0 documents)."""
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


def _in_starting_browser(request: Request, ticket: str) -> tuple[str, ConnectSession]:
    """The flow of `ticket`, when this browser is signed in as the user who started it."""
    tenant = tenant_of(request)
    found = _by_ticket(tenant, ticket)
    if found is None:
        raise ErrorPage(400, "Invalid ticket", "This connect request expired or was used.")
    session = tenant.session(request.cookies.get(SESSION_COOKIE))
    if session is None or session.user_id != found[1].user_id:
        raise ErrorPage(
            403,
            "Not your connect request",
            "This connect request was started by another account or in another browser. "
            "Start it again from the application where you are signed in.",
        )
    return found


def provider_choices(user: User, pending: ConnectSession) -> list[ProviderAccount | None]:
    """The accounts the provider offers: the user's there (None: the one implied by the
    user's profile), narrowed to the one `login_hint` names when it names one."""
    mine: list[ProviderAccount | None] = [
        a for a in user.provider_accounts if a.connection == pending.connection
    ]
    hint = pending.login_hint
    hinted: list[ProviderAccount | None] = [
        a for a in mine if a is not None and hint is not None and a.named_by(hint)
    ]
    return hinted or mine or [None]


async def connect_form(request: Request) -> Response:
    """GET /connect?ticket=...: the user is asked to allow the provider's scopes."""
    tenant = tenant_of(request)
    ticket = request.query_params.get("ticket", "")
    _, pending = _in_starting_browser(request, ticket)
    user = tenant.directory.require(pending.user_id)
    connection = tenant.seed.connection(pending.connection)
    assert connection is not None
    scopes = sorted({*connection.default_scopes, *pending.scopes})
    accounts = [
        (a.user_id, a.name or a.email or a.user_id)
        for a in provider_choices(user, pending)
        if a is not None
    ]
    page = connect_page(
        ticket=ticket,
        connection=pending.connection,
        user=user.profile.email or user.user_id,
        scopes=scopes,
        accounts=accounts,
    )
    return HTMLResponse(page)


async def connect_submit(request: Request) -> Response:
    """POST /connect: allowed, back to the app with a connect code; denied, with an error."""
    tenant = tenant_of(request)
    form = await read_form(request)
    key, pending = _in_starting_browser(request, form.get("ticket", ""))
    params: dict[str, str]
    if form.get("action") == "allow":
        choices = provider_choices(tenant.directory.require(pending.user_id), pending)
        chosen = next((a for a in choices if a is None or a.user_id == form.get("account")), None)
        if chosen is None and choices != [None]:
            raise ErrorPage(400, "Unknown account", "Choose one of the accounts offered.")
        pending.account = chosen
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
    Route("/me/v1/connected-accounts/accounts", list_accounts, methods=["GET"]),
    Route("/me/v1/connected-accounts/accounts/{account_id}", delete_account, methods=["DELETE"]),
    Route("/connect", connect_form, methods=["GET"]),
    Route("/connect", connect_submit, methods=["POST"]),
]
