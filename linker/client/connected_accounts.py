"""Connected Accounts: how an app fills Token Vault on today's Auth0, beside `build_link_url`.

For a connection whose purposes include "Connected Accounts for Token Vault", Token Vault reads
the user's connected accounts, not `identities`: a login or a link through linker does not fill
it. The app connects the account through the My Account API instead
(https://auth0.com/docs/secure/tokens/token-vault/connected-accounts-for-token-vault):

    accounts = ConnectedAccounts(domain="example.eu.auth0.com")
    request = await accounts.start(my_account_token, connection="google-oauth2",
                                   redirect_uri="https://app.example.com/connected",
                                   scopes=["https://www.googleapis.com/auth/calendar.readonly"])
    # keep `request` (state, auth_session, code_verifier); send the browser to request.url
    ...
    account = await accounts.complete(my_account_token, request, callback_params)

`my_account_token` is the user's access token for `https://DOMAIN/me/` with the scope
`create:me:connected_accounts`. The helpers that decide are pure (`connect_body`,
`parse_connect`, `connect_code_of`); `ConnectedAccounts` is the thin HTTP layer around them.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from linker.client.errors import ClientError
from linker.client.http_owner import HttpOwner
from linker.client.link_url import check_domain, check_redirect_uri
from linker.client.scopes import ScopeInput, scope_tuple
from linker.core.claims import json_object
from linker.core.pkce import random_token, s256_challenge

CONNECT_SCOPE = "create:me:connected_accounts"


class ConnectError(ClientError):
    """The My Account API refused or failed; `status_code` is its HTTP status (None: no answer).

    Codes: `invalid_request` (400: e.g. the connection has no Connected Accounts purpose, or the
    redirect URI is not one of the app's callbacks), `invalid_token` (401), `insufficient_scope`
    (403), `access_denied` (the user refused at the provider), `state_mismatch`,
    `upstream_unavailable`, `invalid_response`, `upstream_error`.
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


def connect_body(
    *, connection: str, redirect_uri: str, state: str, code_verifier: str, scopes: ScopeInput
) -> dict[str, Any]:
    """The JSON of `POST /me/v1/connected-accounts/connect` (PKCE S256 always)."""
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


def connect_code_of(params: Mapping[str, str], request: ConnectRequest) -> str:
    """The `connect_code` of the browser's return to `redirect_uri`, once its `state` checks."""
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


def _refusal(status_code: int, body: Mapping[str, Any]) -> ConnectError:
    code = {400: "invalid_request", 401: "invalid_token", 403: "insufficient_scope"}.get(
        status_code, "upstream_error"
    )
    detail = body.get("detail") or body.get("title") or f"HTTP {status_code}"
    return ConnectError(code, str(detail), status_code=status_code)


@dataclass(frozen=True)
class ConnectContext:
    """What `TokenVault.exchange` needs to start a connect flow on a miss: the helper, the
    user's My Account API token, and the app's callback for the connect flow."""

    accounts: ConnectedAccounts
    access_token: str = field(repr=False)
    redirect_uri: str


class ConnectedAccounts(HttpOwner):
    """The My Account API's Connected Accounts flow at one tenant, for the signed-in user."""

    def __init__(
        self, *, domain: str, http: httpx.AsyncClient | None = None, scheme: str = "https"
    ) -> None:
        if scheme not in ("https", "http"):
            raise ValueError("scheme must be 'https' (or 'http' for a local dev tenant)")
        check_domain(domain)
        self.base_url = f"{scheme}://{domain}/me/v1/connected-accounts"
        super().__init__(http)

    def __repr__(self) -> str:
        return f"ConnectedAccounts(base_url={self.base_url!r})"

    async def start(
        self,
        access_token: str,
        *,
        connection: str,
        redirect_uri: str,
        scopes: ScopeInput = None,
    ) -> ConnectRequest:
        """Start connecting `connection` for the user of `access_token` (a My Account token)."""
        check_redirect_uri(redirect_uri)
        state, verifier = random_token(), random_token()
        body = connect_body(
            connection=connection,
            redirect_uri=redirect_uri,
            state=state,
            code_verifier=verifier,
            scopes=scopes,
        )
        status, answer = await self._post("/connect", access_token, body)
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
        self, access_token: str, request: ConnectRequest, params: Mapping[str, str]
    ) -> ConnectedAccount:
        """Finish the flow with the query the browser brought back to `redirect_uri`."""
        code = connect_code_of(params, request)
        body = {
            "auth_session": request.auth_session,
            "connect_code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.code_verifier,
        }
        status, answer = await self._post("/complete", access_token, body)
        return parse_account(status, answer)

    async def _post(
        self, path: str, access_token: str, body: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        try:
            response = await self._http.post(
                self.base_url + path,
                json=body,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ConnectError(
                "upstream_unavailable", f"could not reach the tenant ({type(exc).__name__})"
            ) from None
        return response.status_code, json_object(response.content)
