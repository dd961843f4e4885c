"""A server-side check of a user's connected accounts, through the Management API.

An agent API that wants to know, before it calls Token Vault, whether the user has connected
an account (and with which scopes) reads `GET /api/v2/users/{id}/connected-accounts`
("Manage Connected Accounts" in
https://auth0.com/docs/secure/call-apis-on-users-behalf/token-vault/connected-accounts-for-token-vault).
It needs a machine-to-machine application with `read:users` on the Management API:

    check = ConnectedAccountsCheck(domain="example.eu.auth0.com", client_id=M2M_ID,
                                   client_secret=M2M_SECRET)
    account = await check.require(user_id, "slack", scopes=["chat:write"])  # or LinkRequired

The listing comes in pages (`take`, and the answer's `next` as the following `from`); the
check reads at most `MAX_PAGES` of them. The Management API token (client credentials) is
kept until shortly before it expires.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from linker.client.connected_accounts import ConnectedAccount, ConnectError, parse_account
from linker.client.errors import LinkRequired, ManagementApiError
from linker.client.http_owner import HttpOwner
from linker.client.link_url import check_domain
from linker.client.scopes import ScopeInput, scope_tuple
from linker.core.claims import json_object

# Auth0 documents `take` as "defaults to 10 with a maximum of 20" for this endpoint.
PAGE_SIZE = 20
MAX_PAGES = 20
TOKEN_MARGIN = 60  # seconds before its expiry a Management API token is replaced


class ConnectedAccountsCheck(HttpOwner):
    """Read a user's connected accounts with a Management API client (scope `read:users`)."""

    def __init__(
        self,
        *,
        domain: str,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient | None = None,
        scheme: str = "https",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if scheme not in ("https", "http"):
            raise ValueError("scheme must be 'https' (or 'http' for a local dev tenant)")
        check_domain(domain)
        self.api_url = f"{scheme}://{domain}/api/v2/"
        self.token_url = f"{scheme}://{domain}/oauth/token"
        self.client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._token: tuple[str, float] | None = None  # (token, expires at)
        super().__init__(http)

    def __repr__(self) -> str:
        return f"ConnectedAccountsCheck(api_url={self.api_url!r}, client_id={self.client_id!r})"

    async def list(self, user_id: str) -> list[ConnectedAccount]:
        """Every connected account of `user_id` (up to `MAX_PAGES` pages)."""
        if not user_id:
            raise ValueError("user_id is required")
        accounts: list[ConnectedAccount] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params = {"take": str(PAGE_SIZE)}
            if cursor is not None:
                params["from"] = cursor
            body = await self._get(f"users/{quote(user_id, safe='')}/connected-accounts", params)
            items = body.get("connected_accounts")
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ManagementApiError(
                    "invalid_response",
                    "the connected-accounts answer is malformed",
                    status_code=200,
                )
            try:
                accounts += [parse_account(200, item) for item in items]
            except ConnectError:
                raise ManagementApiError(
                    "invalid_response",
                    "a connected account in the answer is malformed",
                    status_code=200,
                ) from None
            following = body.get("next")
            if not isinstance(following, str) or not following or not items:
                return accounts
            cursor = following
        return accounts

    async def find(
        self, user_id: str, connection: str, *, scopes: ScopeInput = None
    ) -> ConnectedAccount | None:
        """The user's connected account of `connection` holding every one of `scopes`."""
        wanted = scope_tuple(scopes)
        return next(
            (
                a
                for a in await self.list(user_id)
                if a.connection == connection and all(s in a.scopes for s in wanted)
            ),
            None,
        )

    async def require(
        self, user_id: str, connection: str, *, scopes: ScopeInput = None
    ) -> ConnectedAccount:
        """`find`, or `LinkRequired(via="connect")` saying what the listing showed."""
        accounts = [a for a in await self.list(user_id) if a.connection == connection]
        wanted = scope_tuple(scopes)
        for account in accounts:
            if all(s in account.scopes for s in wanted):
                return account
        if not accounts:
            raise LinkRequired(
                connection,
                wanted,
                via="connect",
                why=f"the Management API lists no connected account of {connection} for the user",
            )
        granted = sorted({s for a in accounts for s in a.scopes})
        raise LinkRequired(
            connection,
            wanted,
            via="connect",
            granted=granted,
            found=True,
            why=f"the user's connected {connection} account lacks some of the scopes asked",
        )

    async def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        token = await self._management_token()
        try:
            response = await self._http.get(
                self.api_url + path,
                params=params,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ManagementApiError(
                "upstream_unavailable", f"could not reach the tenant ({type(exc).__name__})"
            ) from None
        body = json_object(response.content)
        if response.status_code == 401:
            self._token = None  # revoked or rotated keys: the next call gets a new one
        if response.status_code != 200:
            code = body.get("errorCode") or body.get("error") or "upstream_error"
            message = body.get("message") or f"HTTP {response.status_code}"
            raise ManagementApiError(str(code), str(message), status_code=response.status_code)
        return body

    async def _management_token(self) -> str:
        now = self._clock()
        if self._token is not None and now < self._token[1] - TOKEN_MARGIN:
            return self._token[0]
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "audience": self.api_url,
        }
        try:
            response = await self._http.post(
                self.token_url, data=form, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            raise ManagementApiError(
                "upstream_unavailable", f"could not reach the tenant ({type(exc).__name__})"
            ) from None
        body = json_object(response.content)
        token, expires_in = body.get("access_token"), body.get("expires_in", 0)
        if response.status_code != 200 or not isinstance(token, str) or not token:
            code = body.get("error") or "invalid_response"
            raise ManagementApiError(
                str(code),
                str(body.get("error_description") or "no Management API token"),
                status_code=response.status_code,
            )
        lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else 0
        self._token = (token, now + lifetime)
        return token
