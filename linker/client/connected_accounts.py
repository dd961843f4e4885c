"""Connected Accounts: how an app fills Token Vault on today's Auth0, beside `build_link_url`.

For a connection whose purposes include "Connected Accounts for Token Vault", Token Vault reads
the user's connected accounts, not `identities`: a login or a link through linker does not fill
it. The app connects the account through the My Account API instead
(https://auth0.com/docs/secure/call-apis-on-users-behalf/token-vault/connected-accounts-for-token-vault):

    accounts = ConnectedAccounts(domain="example.eu.auth0.com")
    token = await accounts.token_from_refresh_token(
        refresh_token, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)   # MRRT
    request = await accounts.start(token.access_token, connection="google-oauth2",
                                   redirect_uri="https://app.example.com/connected",
                                   scopes=["https://www.googleapis.com/auth/calendar.readonly"],
                                   login_hint="me@work.example")           # optional
    # keep `request` (state, auth_session, code_verifier); send the browser to request.url
    ...
    account = await accounts.complete(token.access_token, request, str(callback_url))

The My Account API token (audience `https://DOMAIN/me/`, scope `create:me:connected_accounts`)
comes from the user's refresh token through a Multi-Resource Refresh Token exchange
(https://auth0.com/docs/secure/tokens/refresh-tokens/multi-resource-refresh-token; the
application's refresh token policies must list the My Account API). The API's Default Policy
(https://auth0.com/docs/manage-users/my-account-api) wants a second factor within 15 minutes:
when the tenant refuses for that, `token_from_refresh_token` raises `StepUpRequired`, which
says what to ask the user for. `complete` takes the callback's query as a mapping, or the whole
callback URL, whose query or fragment carries the `connect_code` (the Connected Accounts page
shows it in the fragment). `list` and `delete` manage the user's connected accounts.

The helpers that decide are pure (`connect_body`, `parse_connect`, `connect_code_of`,
`parse_my_account_token`); `ConnectedAccounts` is the thin HTTP layer around them.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx

from linker.client.errors import ClientError, StepUpRequired
from linker.client.http_owner import HttpOwner
from linker.client.link_url import check_domain, check_redirect_uri
from linker.client.scopes import ScopeInput, scope_tuple
from linker.core.claims import json_object
from linker.core.pkce import random_token, s256_challenge

CONNECT_SCOPE = "create:me:connected_accounts"
READ_SCOPE, DELETE_SCOPE = "read:me:connected_accounts", "delete:me:connected_accounts"
CONNECTED_ACCOUNTS_SCOPES = (CONNECT_SCOPE, READ_SCOPE, DELETE_SCOPE)
MAX_CALLBACK_CHARS = 8192
# The token endpoint's answers when the Default Policy is not met (My Account API page).
STEP_UP_ERRORS: Mapping[str, Any] = {
    "mfa_required": "second_factor",
    "unmet_authentication_requirements": "sign_in",
}


class ConnectError(ClientError):
    """The My Account API refused or failed; `status_code` is its HTTP status (None: no answer).

    Codes: `invalid_request` (400: e.g. the connection has no Connected Accounts purpose, or the
    redirect URI is not one of the app's callbacks), `invalid_token` (401), `insufficient_scope`
    (403), `access_denied` (the user refused at the provider), `state_mismatch`,
    `upstream_unavailable`, `invalid_response`, `upstream_error`, `not_found` (no such
    connected account to delete); from `token_from_refresh_token`, the tenant's OAuth `error`
    (e.g. `invalid_grant`), or `insufficient_scope` when the answer is not a My Account API
    token with the scopes asked (no MRRT policy for it: Auth0 then answers a token for the
    refresh token's own audience).
    """

    def __init__(self, code: str, description: str, *, status_code: int | None = None) -> None:
        super().__init__(code, description)
        self.status_code = status_code


@dataclass(frozen=True)
class ConnectRequest:
    """A started connect flow: where to send the browser, and what to keep until it is back."""

    url: str = field(repr=False)  # connect_uri with its ticket
    auth_session: str = field(repr=False)
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)
    connection: str
    redirect_uri: str
    scopes: tuple[str, ...]
    expires_in: int


@dataclass(frozen=True)
class ConnectedAccount:
    """What the My Account API says was connected (Token Vault now holds its tokens)."""

    id: str
    connection: str
    scopes: tuple[str, ...]
    created_at: str
    access_type: str = "offline"


@dataclass(frozen=True)
class MyAccountToken:
    """An access token for the My Account API, from a refresh token (MRRT)."""

    access_token: str = field(repr=False)
    expires_in: int
    scope: str
    refresh_token: str | None = field(default=None, repr=False)  # a rotated one, to keep

    @property
    def scopes(self) -> tuple[str, ...]:
        return scope_tuple(self.scope)


def parse_my_account_token(
    status_code: int, body: Mapping[str, Any], wanted: tuple[str, ...]
) -> MyAccountToken:
    """The token endpoint's answer to a refresh grant for the My Account API: the token,
    `StepUpRequired` when the Default Policy is not met, or `ConnectError`."""
    if status_code == 200:
        token, scope = body.get("access_token"), body.get("scope", "")
        expires_in = body.get("expires_in", 0)
        if not isinstance(token, str) or not token or not isinstance(scope, str):
            raise ConnectError("invalid_response", "the token answer is malformed", status_code=200)
        missing = [s for s in wanted if s not in scope_tuple(scope)]
        if missing:
            raise ConnectError(
                "insufficient_scope",
                f"the refresh token got no My Account API token with {' '.join(missing)}: list "
                "the My Account API in the application's refresh token policies (MRRT)",
                status_code=200,
            )
        rotated = body.get("refresh_token")
        return MyAccountToken(
            access_token=token,
            expires_in=expires_in if isinstance(expires_in, int) else 0,
            scope=scope,
            refresh_token=rotated if isinstance(rotated, str) else None,
        )
    error = body.get("error")
    description = body.get("error_description")
    text = description if isinstance(description, str) else ""
    if isinstance(error, str) and error in STEP_UP_ERRORS:
        raise StepUpRequired(error, text, ask_for=STEP_UP_ERRORS[error], status_code=status_code)
    code = error if isinstance(error, str) and error else "upstream_error"
    raise ConnectError(code, text or f"HTTP {status_code}", status_code=status_code)


def callback_params(callback: Mapping[str, str] | str) -> Mapping[str, str]:
    """The parameters of the browser's return from a connect flow: the mapping as given, or,
    from the whole callback URL, its query, or its fragment when the query carries neither a
    `connect_code` nor an `error` (the Connected Accounts page reads it from the fragment)."""
    if not isinstance(callback, str):
        return callback
    if len(callback) > MAX_CALLBACK_CHARS:
        raise ConnectError("invalid_request", "the connect callback URL is too long")
    parts = urlsplit(callback)
    query = dict(parse_qsl(parts.query))
    if "connect_code" in query or "error" in query:
        return query
    fragment = dict(parse_qsl(parts.fragment))
    return fragment if ("connect_code" in fragment or "error" in fragment) else query


def connect_body(
    *,
    connection: str,
    redirect_uri: str,
    state: str,
    code_verifier: str,
    scopes: ScopeInput,
    login_hint: str | None = None,
) -> dict[str, Any]:
    """The JSON of `POST /me/v1/connected-accounts/connect` (PKCE S256 always). `login_hint`
    names which of the user's accounts at the provider to connect (work or personal), passed
    in `authorization_params` as Auth0's SDKs pass it."""
    body: dict[str, Any] = {
        "connection": connection,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": s256_challenge(code_verifier),
        "code_challenge_method": "S256",
    }
    wanted = scope_tuple(scopes)
    if wanted:
        body["scopes"] = list(wanted)
    if login_hint:
        body["authorization_params"] = {"login_hint": login_hint}
    return body


def parse_connect(
    status_code: int,
    body: Mapping[str, Any],
    *,
    connection: str,
    redirect_uri: str,
    state: str,
    code_verifier: str,
    scopes: tuple[str, ...],
) -> ConnectRequest:
    """The connect answer as a `ConnectRequest`, or `ConnectError`."""
    if status_code != 201:
        raise _refusal(status_code, body)
    uri, session, params = (
        body.get("connect_uri"),
        body.get("auth_session"),
        body.get("connect_params"),
    )
    expires_in = body.get("expires_in", 0)
    if (
        not isinstance(uri, str)
        or not isinstance(session, str)
        or not isinstance(params, dict)
        or not all(isinstance(v, str) for v in params.values())
        or not isinstance(expires_in, int)
    ):
        raise ConnectError(
            "invalid_response", "the connect answer is malformed", status_code=status_code
        )
    separator = "&" if "?" in uri else "?"
    return ConnectRequest(
        url=uri + separator + urlencode(params),
        auth_session=session,
        state=state,
        code_verifier=code_verifier,
        connection=connection,
        redirect_uri=redirect_uri,
        scopes=scopes,
        expires_in=expires_in,
    )


def connect_code_of(callback: Mapping[str, str] | str, request: ConnectRequest) -> str:
    """The `connect_code` of the browser's return to `redirect_uri` (its query as a mapping,
    or the whole URL: `callback_params`), once its `state` checks."""
    params = callback_params(callback)
    state = params.get("state", "")
    if not hmac.compare_digest(state.encode(), request.state.encode()):
        raise ConnectError("state_mismatch", "the connect callback is for another request")
    if params.get("error"):
        raise ConnectError(params["error"], params.get("error_description", ""))
    code = params.get("connect_code")
    if not code:
        raise ConnectError("invalid_response", "the connect callback has no connect_code")
    return code


def parse_account(status_code: int, body: Mapping[str, Any]) -> ConnectedAccount:
    if status_code not in (200, 201):
        raise _refusal(status_code, body)
    scopes = body.get("scopes", [])
    values = (body.get("id"), body.get("connection"), body.get("created_at"))
    if not all(isinstance(v, str) for v in values) or not isinstance(scopes, list):
        raise ConnectError(
            "invalid_response", "the complete answer is malformed", status_code=status_code
        )
    return ConnectedAccount(
        id=str(body["id"]),
        connection=str(body["connection"]),
        scopes=tuple(str(s) for s in scopes),
        created_at=str(body["created_at"]),
        access_type=str(body.get("access_type", "offline")),
    )


def _refusal(
    status_code: int, body: Mapping[str, Any], challenge: str = ""
) -> ConnectError | StepUpRequired:
    detail = str(body.get("detail") or body.get("title") or f"HTTP {status_code}")
    if status_code in (401, 403) and "insufficient_user_authentication" in challenge:
        # RFC 9470: the API wants a stronger or fresher authentication than the token shows.
        return StepUpRequired(
            "insufficient_user_authentication",
            detail,
            ask_for="second_factor",
            status_code=status_code,
        )
    code = {
        400: "invalid_request",
        401: "invalid_token",
        403: "insufficient_scope",
        404: "not_found",
    }.get(status_code, "upstream_error")
    return ConnectError(code, detail, status_code=status_code)


@dataclass(frozen=True)
class ConnectContext:
    """What `TokenVault.exchange` needs to start a connect flow on a miss: the helper, the
    user's My Account API token, and the app's callback for the connect flow.

    With `access_token=None` the vault gets the token itself from the refresh token it
    exchanges (MRRT, with its own client credentials); `StepUpRequired` then comes from
    `exchange`. `login_hint` names which of the user's accounts at the provider to connect.
    """

    accounts: ConnectedAccounts
    access_token: str | None = field(repr=False)
    redirect_uri: str
    login_hint: str | None = None


class ConnectedAccounts(HttpOwner):
    """The My Account API's Connected Accounts flow at one tenant, for the signed-in user."""

    def __init__(
        self, *, domain: str, http: httpx.AsyncClient | None = None, scheme: str = "https"
    ) -> None:
        if scheme not in ("https", "http"):
            raise ValueError("scheme must be 'https' (or 'http' for a local dev tenant)")
        check_domain(domain)
        self.audience = f"{scheme}://{domain}/me/"
        self.base_url = f"{scheme}://{domain}/me/v1/connected-accounts"
        self.token_url = f"{scheme}://{domain}/oauth/token"
        super().__init__(http)

    def __repr__(self) -> str:
        return f"ConnectedAccounts(base_url={self.base_url!r})"

    async def token_from_refresh_token(
        self,
        refresh_token: str,
        *,
        client_id: str,
        client_secret: str | None = None,
        scopes: ScopeInput = CONNECTED_ACCOUNTS_SCOPES,
    ) -> MyAccountToken:
        """A My Account API token from the user's refresh token (Multi-Resource Refresh Token).

        Raises `StepUpRequired` when the API's Default Policy wants the user to authenticate
        again, `ConnectError` otherwise. Omit `client_secret` for a public client.
        """
        if not refresh_token or not client_id:
            raise ValueError("refresh_token and client_id are required")
        wanted = scope_tuple(scopes)
        form = {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "refresh_token": refresh_token,
            "audience": self.audience,
            "scope": " ".join(wanted),
        }
        if client_secret is not None:
            form["client_secret"] = client_secret
        try:
            response = await self._http.post(
                self.token_url, data=form, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise ConnectError(
                "upstream_unavailable", f"could not reach the tenant ({type(exc).__name__})"
            ) from None
        body = json_object(response.content)
        described = body.get("error_description")
        if isinstance(described, str) and refresh_token in described:
            # An upstream description that quotes the token must not carry it into logs.
            body["error_description"] = described.replace(refresh_token, "[refresh token]")
        return parse_my_account_token(response.status_code, body, wanted)

    async def start(
        self,
        access_token: str,
        *,
        connection: str,
        redirect_uri: str,
        scopes: ScopeInput = None,
        login_hint: str | None = None,
    ) -> ConnectRequest:
        """Start connecting `connection` for the user of `access_token` (a My Account token);
        `login_hint` names which of the user's accounts at the provider."""
        check_redirect_uri(redirect_uri)
        state, verifier = random_token(), random_token()
        body = connect_body(
            connection=connection,
            redirect_uri=redirect_uri,
            state=state,
            code_verifier=verifier,
            scopes=scopes,
            login_hint=login_hint,
        )
        status, answer = await self._call("POST", "/connect", access_token, body)
        return parse_connect(
            status,
            answer,
            connection=connection,
            redirect_uri=redirect_uri,
            state=state,
            code_verifier=verifier,
            scopes=scope_tuple(scopes),
        )

    async def complete(
        self, access_token: str, request: ConnectRequest, callback: Mapping[str, str] | str
    ) -> ConnectedAccount:
        """Finish the flow with the browser's return to `redirect_uri`: its query as a
        mapping, or the whole URL (the `connect_code` may be in its fragment)."""
        code = connect_code_of(callback, request)
        body = {
            "auth_session": request.auth_session,
            "connect_code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.code_verifier,
        }
        status, answer = await self._call("POST", "/complete", access_token, body)
        return parse_account(status, answer)

    async def list(
        self, access_token: str, *, connection: str | None = None
    ) -> list[ConnectedAccount]:
        """The user's connected accounts (scope `read:me:connected_accounts`), of one
        connection when named."""
        path = "/accounts" + (f"?connection={quote(connection, safe='')}" if connection else "")
        status, answer = await self._call("GET", path, access_token, None)
        if status != 200:
            raise _refusal(status, answer)
        items = answer.get("accounts")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ConnectError(
                "invalid_response", "the accounts answer is malformed", status_code=200
            )
        return [parse_account(200, item) for item in items]

    async def delete(self, access_token: str, account_id: str) -> None:
        """Delete a connected account (scope `delete:me:connected_accounts`): Token Vault
        forgets its tokens. The provider's own grant is not revoked by this."""
        if account_id in ("", ".", "..") or "/" in account_id:  # one segment, and no dot one
            raise ValueError("account_id is a connected account's id")
        status, answer = await self._call(
            "DELETE", "/accounts/" + quote(account_id, safe=""), access_token, None
        )
        if status != 204:
            raise _refusal(status, answer)

    async def _call(
        self, method: str, path: str, access_token: str, body: Mapping[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        try:
            response = await self._http.request(
                method,
                self.base_url + path,
                json=body,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ConnectError(
                "upstream_unavailable", f"could not reach the tenant ({type(exc).__name__})"
            ) from None
        if response.status_code in (401, 403):
            challenge = response.headers.get("www-authenticate", "")
            if "insufficient_user_authentication" in challenge:
                raise _refusal(response.status_code, json_object(response.content), challenge)
        return response.status_code, json_object(response.content)
