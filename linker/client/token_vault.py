"""Token Vault: trade the user's Auth0 token for the access token of a connected account.

`TokenVault.exchange` posts the federated-connection token exchange of docs/protocol.md section 2.
When the tenant holds no tokens for the connection it raises `LinkRequired`, which an app turns
into "connect your account" (a link request with `requested_connection_scope`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from linker.client.errors import LinkRequired, TokenVaultError
from linker.client.link_url import LinkContext
from linker.client.scopes import ScopeInput, scope_tuple

GRANT_TYPE = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
REQUESTED_TOKEN_TYPE = "http://auth0.com/oauth/token-type/federated-connection-access-token"  # noqa: S105
SUBJECT_TOKEN_TYPES = {
    "refresh_token": "urn:ietf:params:oauth:token-type:refresh_token",
    "access_token": "urn:ietf:params:oauth:token-type:access_token",
}
# Current tenants say the first; older ones the second.
NOT_FOUND_ERRORS = frozenset({"tokenset_not_found", "federated_connection_refresh_token_not_found"})
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class FederatedToken:
    """An access token for the connection's API (Google, GitHub, ...), from Token Vault."""

    access_token: str = field(repr=False)
    expires_in: int
    scope: str
    token_type: str = "Bearer"  # noqa: S105
    issued_token_type: str | None = None

    @property
    def scopes(self) -> tuple[str, ...]:
        return scope_tuple(self.scope)


class TokenVault:
    """A Token Vault client for one application (its client id and secret) at one tenant.

    Pass `http` to share a client (and its transport) with the app; otherwise the vault creates
    one and closes it in `aclose()` or at the end of `async with`.
    """

    def __init__(
        self,
        *,
        domain: str,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient | None = None,
        scheme: str = "https",
    ) -> None:
        if scheme not in ("https", "http"):
            raise ValueError("scheme must be 'https' (or 'http' for a local dev tenant)")
        self.token_url = f"{scheme}://{domain}/oauth/token"
        self.client_id = client_id
        self._client_secret = client_secret
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)

    def __repr__(self) -> str:
        return f"TokenVault(token_url={self.token_url!r}, client_id={self.client_id!r})"

    async def __aenter__(self) -> TokenVault:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if the vault created it (a shared one stays open)."""
        if self._owns_http:
            await self._http.aclose()

    async def exchange(
        self,
        subject_token: str,
        *,
        connection: str,
        subject_token_type: str = "refresh_token",  # noqa: S107
        login_hint: str | None = None,
        scopes: ScopeInput = None,
        link: LinkContext | None = None,
    ) -> FederatedToken:
        """Exchange the user's Auth0 refresh (or access) token for a `connection` access token.

        Raises `LinkRequired` when the tenant has no tokens for the connection (with a ready
        link request when `link` is given), `TokenVaultError` on any other failure.
        """
        form = exchange_form(
            subject_token,
            client_id=self.client_id,
            client_secret=self._client_secret,
            connection=connection,
            subject_token_type=subject_token_type,
            login_hint=login_hint,
            scopes=scopes,
        )
        try:
            response = await self._http.post(
                self.token_url, data=form, headers={"Accept": "application/json"}
            )
        except httpx.HTTPError as exc:
            # The exception's text could name the URL but never the form, so the type suffices.
            raise TokenVaultError(
                "upstream_unavailable", f"could not reach the tenant ({type(exc).__name__})"
            ) from None
        try:
            return parse_exchange_response(
                response.status_code, _json_object(response), connection, scopes
            )
        except LinkRequired as needed:
            if link is None:
                raise
            raise needed.with_link(link.settings, link.id_token_hint) from None
        except TokenVaultError as failure:
            if subject_token not in failure.description:
                raise
            # An upstream description that quotes the token must not carry it into logs.
            redacted = failure.description.replace(subject_token, "[subject token]")
            raise TokenVaultError(failure.code, redacted, status_code=failure.status_code) from None


def exchange_form(
    subject_token: str,
    *,
    client_id: str,
    client_secret: str,
    connection: str,
    subject_token_type: str = "refresh_token",  # noqa: S107
    login_hint: str | None = None,
    scopes: ScopeInput = None,
) -> dict[str, str]:
    """The form of a Token Vault exchange (client_secret_post authentication)."""
    token_type = SUBJECT_TOKEN_TYPES.get(subject_token_type)
    if token_type is None:
        raise ValueError("subject_token_type must be 'refresh_token' or 'access_token'")
    if not subject_token or not connection:
        raise ValueError("subject_token and connection are required")
    form = {
        "grant_type": GRANT_TYPE,
        "client_id": client_id,
        "client_secret": client_secret,
        "subject_token_type": token_type,
        "subject_token": subject_token,
        "requested_token_type": REQUESTED_TOKEN_TYPE,
        "connection": connection,
    }
    if login_hint:
        form["login_hint"] = login_hint
    wanted = scope_tuple(scopes)
    if wanted:
        form["scope"] = " ".join(wanted)
    return form


def parse_exchange_response(
    status_code: int, body: Mapping[str, Any], connection: str, scopes: ScopeInput = None
) -> FederatedToken:
    """Decide what the tenant's answer means: a token, `LinkRequired`, or `TokenVaultError`.

    `body` is the JSON object of the answer (empty when it was not one).
    """
    if status_code == 200:
        access_token = body.get("access_token")
        expires_in = body.get("expires_in", 0)
        scope = body.get("scope", "")
        if (
            isinstance(access_token, str)
            and access_token
            and isinstance(expires_in, int)
            and not isinstance(expires_in, bool)
            and isinstance(scope, str)
        ):
            return FederatedToken(
                access_token=access_token,
                expires_in=expires_in,
                scope=scope,
                token_type=str(body.get("token_type", "Bearer")),
                issued_token_type=_optional_str(body.get("issued_token_type")),
            )
        raise TokenVaultError(
            "invalid_response", "the tenant's token response is malformed", status_code=200
        )
    error = body.get("error")
    if not isinstance(error, str) or not error:
        raise TokenVaultError(
            "invalid_response",
            f"the tenant answered HTTP {status_code} without an OAuth error",
            status_code=status_code,
        )
    if status_code in (400, 401) and error in NOT_FOUND_ERRORS:
        raise LinkRequired(connection, scopes)
    description = _optional_str(body.get("error_description")) or ""
    raise TokenVaultError(error, description, status_code=status_code)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    # Like linker.tenant.json_object; repeated so that apps embedding linker.client do not
    # import the service's modules.
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
