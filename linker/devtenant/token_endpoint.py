"""`/oauth/token`: client authentication and the grants, refusing what Auth0 refuses.

authorization_code (one use, 60 s, exact redirect_uri, PKCE S256), refresh_token (runs the
post-login Action as a non-interactive `oauth2-refresh-token` transaction, so a shim that
forgets to skip it is caught), client_credentials for the Management API, and the Token
Vault exchange (`token_vault.py`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from linker.core.pkce import s256_challenge
from linker.devtenant import my_account_policy
from linker.devtenant.action_event import ActionOutcome, RequestInfo
from linker.devtenant.action_run import run_action
from linker.devtenant.action_runner import ActionWorkerError
from linker.devtenant.directory import User
from linker.devtenant.errors import OAuthError
from linker.devtenant.password_grant import PASSWORD_GRANTS, PROTOCOL, authenticate_user
from linker.devtenant.refresh_rotation import (
    spend_for_rotation,
    spend_refresh_token,
    successor,
)
from linker.devtenant.seed import Client, Connection
from linker.devtenant.state import CODE_TTL, AuthMethod, RefreshToken, Session, TenantState
from linker.devtenant.token_claims import ACCESS_TOKEN_TTL, access_token_claims, id_token_claims
from linker.devtenant.token_vault import TOKEN_VAULT_GRANT, exchange_federated_token
from linker.devtenant.web import (
    NO_STORE,
    actions_of,
    client_ip,
    json_response,
    read_form,
    tenant_of,
)

VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")


THIRD_PARTY_GRANTS = frozenset({"authorization_code", "refresh_token"})


async def token(request: Request) -> Response:
    tenant = tenant_of(request)
    try:
        form = await _read_params(request)
        client = authenticate_client(tenant, request.headers.get("authorization"), form)
        grant = form.get("grant_type")
        if not client.is_first_party and grant not in THIRD_PARTY_GRANTS:
            # Auth0: a third-party application gets the authorization code and refresh token
            # grants only (Applications > Third-party applications > Security controls).
            raise OAuthError(
                403, "unauthorized_client", f"Grant type '{grant}' not allowed for the client."
            )
        if grant == "authorization_code":
            return json_response(_authorization_code(tenant, client, form))
        if grant == "refresh_token":
            return json_response(await _refresh_token(request, tenant, client, form))
        if grant == "client_credentials":
            return json_response(_client_credentials(tenant, client, form))
        if grant == TOKEN_VAULT_GRANT:
            return json_response(exchange_federated_token(tenant, client, form))
        if grant in PASSWORD_GRANTS:
            return json_response(await _password(request, tenant, client, form))
        raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
    except OAuthError as exc:
        return exc.response(NO_STORE)


async def _read_params(request: Request) -> dict[str, str]:
    """Auth0 takes the token request as a form or as JSON."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise OAuthError(400, "invalid_request", "The body is not valid JSON") from None
        if not isinstance(data, dict):
            raise OAuthError(400, "invalid_request", "The body must be a JSON object")
        return {k: v for k, v in data.items() if isinstance(v, str)}
    return await read_form(request)


def authenticate_client(
    tenant: TenantState, authorization: str | None, form: dict[str, str]
) -> Client:
    """client_secret_basic or client_secret_post; a public client (a single-page app) sends
    only its client_id and proves the code with PKCE instead."""
    client_id = form.get("client_id")
    secret = form.get("client_secret")
    public = tenant.seed.client(client_id or "")
    if public is not None and public.is_public and secret is None and authorization is None:
        return public
    if authorization is not None and authorization[:6].lower() == "basic ":
        if secret is not None:
            raise OAuthError(400, "invalid_request", "Use only one client authentication method")
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _invalid_client() from None
        basic_id, sep, basic_secret = decoded.partition(":")
        if not sep or (client_id is not None and client_id != unquote(basic_id)):
            raise _invalid_client()
        client_id, secret = unquote(basic_id), unquote(basic_secret)
    client = tenant.seed.client(client_id or "")
    if client is None or secret is None or client.is_public:
        raise _invalid_client()
    if not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
        raise _invalid_client()
    return client


def _invalid_client() -> OAuthError:
    return OAuthError(401, "invalid_client", "Client authentication failed")


def _authorization_code(
    tenant: TenantState, client: Client, form: dict[str, str]
) -> dict[str, Any]:
    code = tenant.codes.get(form.get("code", ""))
    if code is None or code.used or code.request.client_id != client.client_id:
        raise OAuthError(400, "invalid_grant", "Invalid authorization code")
    # Spent on first presentation, whatever follows: a code is never tried twice.
    code.used = True
    auth = code.request
    if tenant.now() - code.issued_at > CODE_TTL:
        raise OAuthError(400, "invalid_grant", "The authorization code has expired")
    if form.get("redirect_uri") != auth.redirect_uri:
        raise OAuthError(
            400, "invalid_grant", "redirect_uri does not match the authorization request"
        )
    verifier = form.get("code_verifier")
    if auth.code_challenge is None and client.is_public:
        # Without a client secret, PKCE is the only proof that this caller started the login.
        raise OAuthError(400, "invalid_grant", "A public client must use PKCE")
    if auth.code_challenge is None:
        if verifier is not None:
            raise OAuthError(
                400, "invalid_grant", "The authorization request had no code_challenge"
            )
    elif not _pkce_holds(verifier, auth.code_challenge):
        raise OAuthError(400, "invalid_grant", "Failed to verify code verifier")
    user = tenant.directory.get(code.user_id)
    if user is None:
        raise OAuthError(400, "invalid_grant", "The user no longer exists")
    response = user_tokens(
        tenant,
        client,
        user,
        scopes=auth.scopes,
        session_id=code.session_id,
        auth_time=code.auth_time,
        nonce=auth.nonce,
        id_claims=code.id_token_claims,
        at_claims=code.access_token_claims,
        audience=auth.audience,
    )
    if "offline_access" in auth.scopes:
        response["refresh_token"] = tenant.issue_refresh_token(
            RefreshToken(
                client.client_id,
                user.user_id,
                auth.scopes,
                code.session_id,
                code.auth_time,
                audience=auth.audience,
            )
        )
    return response


def _pkce_holds(verifier: str | None, challenge: str) -> bool:
    if verifier is None or not VERIFIER.fullmatch(verifier):
        return False
    return hmac.compare_digest(s256_challenge(verifier), challenge)


def user_tokens(
    tenant: TenantState,
    client: Client,
    user: User,
    *,
    scopes: tuple[str, ...],
    session_id: str,
    auth_time: float,
    nonce: str | None,
    id_claims: dict[str, Any],
    at_claims: dict[str, Any],
    audience: str | None,
) -> dict[str, Any]:
    now = int(tenant.now())
    aud, granted = token_audience(tenant, scopes, audience)
    access = access_token_claims(
        issuer=tenant.issuer,
        subject=user.user_id,
        audience=aud,
        client_id=client.client_id,
        scopes=granted,
        now=now,
        extra=at_claims,
    )
    response: dict[str, Any] = {
        "access_token": tenant.keys.sign(access),
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_TTL,
        "scope": " ".join(granted),
    }
    if "openid" in scopes:
        claims = id_token_claims(
            issuer=tenant.issuer,
            user=user,
            client_id=client.client_id,
            scopes=scopes,
            now=now,
            auth_time=int(auth_time),
            session_id=session_id,
            nonce=nonce,
            extra=id_claims,
        )
        response["id_token"] = tenant.keys.sign(claims)
    return response


OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})


def token_audience(
    tenant: TenantState, scopes: tuple[str, ...], audience: str | None
) -> tuple[str | list[str], tuple[str, ...]]:
    """An access token's `aud` and `scope`.

    Without `audience` it is good for `/userinfo` only. With an API's identifier it is for that
    API (and `/userinfo` too when `openid` was asked), carrying the OpenID scopes and those of
    the requested scopes the API defines:
    https://auth0.com/docs/get-started/apis/scopes/api-scopes
    """
    userinfo = tenant.issuer + "userinfo"
    if audience is None:
        return userinfo, scopes
    defined = tenant.audience_scopes(audience) or ()
    granted = tuple(s for s in scopes if s in OIDC_SCOPES or s in defined)
    return ([audience, userinfo] if "openid" in scopes else audience), granted


async def _refresh_token(
    request: Request, tenant: TenantState, client: Client, form: dict[str, str]
) -> dict[str, Any]:
    presented = form.get("refresh_token", "")
    grant = spend_refresh_token(tenant, presented)
    if grant is None or grant.client_id != client.client_id:
        raise OAuthError(403, "invalid_grant", "Unknown or invalid refresh token.")
    user = tenant.directory.get(grant.user_id)
    if user is None:
        raise OAuthError(403, "invalid_grant", "Unknown or invalid refresh token.")
    connection = tenant.seed.connection(user.identities[0].connection)
    assert connection is not None
    session = tenant.sessions.get(grant.session_id) or Session(
        id=grant.session_id,
        user_id=user.user_id,
        identity_id=user.user_id,
        connection=connection.name,
        auth_time=grant.auth_time,
        methods=(AuthMethod("federated" if connection.is_social else "pwd", grant.auth_time),),
    )
    audience, scopes = my_account_policy.refreshed_audience(tenant, client, grant, form)
    if my_account_policy.applies(tenant, audience):
        refused = my_account_policy.refresh_refusal(tenant, user, session.methods, grant.auth_time)
        if refused is not None:
            raise OAuthError(403, *refused)
    rotating = spend_for_rotation(tenant, client, presented, grant)
    outcome = await _run_action(
        request,
        tenant,
        client=client,
        user=user,
        connection=connection,
        session=session,
        protocol="oauth2-refresh-token",
        body={"grant_type": "refresh_token", "client_id": client.client_id},
        scopes=grant.scopes,
    )
    response = user_tokens(
        tenant,
        client,
        user,
        scopes=scopes,
        session_id=grant.session_id,
        auth_time=grant.auth_time,
        nonce=None,
        id_claims=dict(outcome.id_token_claims),
        at_claims=dict(outcome.access_token_claims),
        audience=audience,
    )
    if rotating:
        response["refresh_token"] = successor(tenant, grant)
    return response


async def _password(
    request: Request, tenant: TenantState, client: Client, form: dict[str, str]
) -> dict[str, Any]:
    """Resource Owner Password (`password_grant.py`): the Action runs non-interactively."""
    user, connection = authenticate_user(tenant, form)
    scopes = tuple(form.get("scope", "").split())
    audience = form.get("audience") or None
    if audience is not None and tenant.audience_scopes(audience) is None:
        raise OAuthError(403, "access_denied", f"Service not found: {audience}")
    now = tenant.now()
    session = tenant.new_session(
        user.user_id, user.user_id, connection.name, (AuthMethod("pwd", now),)
    )
    outcome = await _run_action(
        request,
        tenant,
        client=client,
        user=user,
        connection=connection,
        session=session,
        protocol=PROTOCOL,
        body={"grant_type": form.get("grant_type", ""), "username": form.get("username", "")},
        scopes=scopes,
    )
    response = user_tokens(
        tenant,
        client,
        user,
        scopes=scopes,
        session_id=session.id,
        auth_time=now,
        nonce=None,
        id_claims=dict(outcome.id_token_claims),
        at_claims=dict(outcome.access_token_claims),
        audience=audience,
    )
    if "offline_access" in scopes:
        response["refresh_token"] = tenant.issue_refresh_token(
            RefreshToken(client.client_id, user.user_id, scopes, session.id, now, audience)
        )
    return response


async def _run_action(
    request: Request,
    tenant: TenantState,
    *,
    client: Client,
    user: User,
    connection: Connection,
    session: Session,
    protocol: str,
    body: dict[str, str],
    scopes: tuple[str, ...],
) -> ActionOutcome:
    """`onExecutePostLogin` in a token request (not interactive: `action_run.py`)."""
    info = RequestInfo(
        ip=client_ip(request),
        hostname=request.url.hostname or "",
        method="POST",
        query={},
        body=body,
    )
    try:
        return await run_action(
            actions_of(request),
            tenant,
            protocol=protocol,
            client=client,
            user=user,
            connection=connection,
            session=session,
            request=info,
            scopes=scopes,
        )
    except ActionWorkerError as exc:
        raise OAuthError(
            500, "server_error", f"The post-login Action could not run: {exc}"
        ) from exc


def _client_credentials(
    tenant: TenantState, client: Client, form: dict[str, str]
) -> dict[str, Any]:
    if client.is_public:
        raise OAuthError(
            403,
            "unauthorized_client",
            "Grant type 'client_credentials' not allowed for the client.",
        )
    audience = form.get("audience")
    if not audience:
        raise OAuthError(
            403,
            "access_denied",
            "No audience parameter was provided, and no default audience has been configured",
        )
    if audience != tenant.management_audience:
        raise OAuthError(403, "access_denied", f"Service not found: {audience}")
    if not client.management_scopes:
        raise OAuthError(403, "access_denied", f'Client is not authorized to access "{audience}".')
    requested = form.get("scope")
    scopes = tuple(requested.split()) if requested else client.management_scopes
    missing = [s for s in scopes if s not in client.management_scopes]
    if missing:
        raise OAuthError(
            403, "access_denied", f"Client has not been granted scopes: {' '.join(missing)}"
        )
    claims = access_token_claims(
        issuer=tenant.issuer,
        subject=f"{client.client_id}@clients",
        audience=audience,
        client_id=client.client_id,
        scopes=scopes,
        now=int(tenant.now()),
        grant="client-credentials",
    )
    return {
        "access_token": tenant.keys.sign(claims),
        "scope": " ".join(scopes),
        "expires_in": ACCESS_TOKEN_TTL,
        "token_type": "Bearer",
    }
