"""Token Vault: trade the user's Auth0 token for the access token of a connected account.

`TokenVault.exchange` posts the federated-connection token exchange of docs/protocol.md section 2.
The request names no scopes: the answer's `scope` says what Token Vault holds
(https://auth0.com/docs/secure/tokens/token-vault/refresh-token-exchange-with-token-vault), and
`exchange` compares it with the scopes the caller needs. When nothing is stored (either code seen
in the wild) or the grant falls short, it raises `LinkRequired`, which says how the user fills
Token Vault for that connection (`via`) and why that way (`why`):

- `"auto"` (the default): ask the tenant. With `connect=ConnectContext(...)` the vault starts
  the My Account API's connect flow; the tenant accepts it for a connection whose purposes
  include Connected Accounts for Token Vault (today's model: Token Vault reads connected
  accounts, https://auth0.com/docs/secure/call-apis-on-users-behalf/token-vault/connected-accounts-for-token-vault),
  and refuses it (400) for a connection used only to log in, which the vault then offers to
  link. Without a `ConnectContext` nothing can be asked: link, and `why` says so.
- `"connect"`: always the connect flow (a tenant on Connected Accounts throughout).
- `"link"`: always a link through linker (with `requested_connection_scope`), for tenants and
  connections from before Connected Accounts, where Token Vault reads the tokens a login left
  on each identity. `link=LinkContext(...)` builds the link request.

`via` is set per vault or per connection (`TokenVault(via={"google-oauth2": "link"})`; a
connection the mapping does not name is `"auto"`). The My Account API token for the connect
flow is the `ConnectContext`'s, or, when it has none, one the vault gets from the same refresh
token through a Multi-Resource Refresh Token exchange; the API's 2FA rule then surfaces as
`StepUpRequired` from `exchange`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from linker.client.connected_accounts import ConnectContext, ConnectError
from linker.client.errors import LinkRequired, TokenVaultError, Via
from linker.client.http_owner import HttpOwner
from linker.client.link_url import LinkContext, check_domain
from linker.client.scopes import ScopeInput, scope_tuple
from linker.core.claims import json_object

GRANT_TYPE = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
REQUESTED_TOKEN_TYPE = "http://auth0.com/oauth/token-type/federated-connection-access-token"  # noqa: S105
SUBJECT_TOKEN_TYPES = {
    "refresh_token": "urn:ietf:params:oauth:token-type:refresh_token",
    "access_token": "urn:ietf:params:oauth:token-type:access_token",
}
# Current tenants say the first; older ones the second.
NOT_FOUND_ERRORS = frozenset({"tokenset_not_found", "federated_connection_refresh_token_not_found"})
Way = Via | Literal["auto"]


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


class TokenVault(HttpOwner):
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
        via: Way | Mapping[str, Way] = "auto",
    ) -> None:
        if scheme not in ("https", "http"):
            raise ValueError("scheme must be 'https' (or 'http' for a local dev tenant)")
        check_domain(domain)  # the client secret and the refresh token go there
        ways = via.values() if isinstance(via, Mapping) else [via]
        if not all(way in ("link", "connect", "auto") for way in ways):
            raise ValueError("via is 'link', 'connect' or 'auto' (or a mapping of them)")
        self._via = via
        self.token_url = f"{scheme}://{domain}/oauth/token"
        self.client_id = client_id
        self._client_secret = client_secret
        super().__init__(http)

    def __repr__(self) -> str:
        return f"TokenVault(token_url={self.token_url!r}, client_id={self.client_id!r})"

    async def exchange(
        self,
        subject_token: str,
        *,
        connection: str,
        subject_token_type: str = "refresh_token",  # noqa: S107
        login_hint: str | None = None,
        scopes: ScopeInput = None,
        link: LinkContext | None = None,
        connect: ConnectContext | None = None,
    ) -> FederatedToken:
        """Exchange the user's Auth0 refresh (or access) token for a `connection` access token.

        Raises `LinkRequired` when the tenant has no tokens for the connection or its granted
        `scope` lacks one of `scopes` (with a ready link request when the way is `link` and
        `link` is given, or a started connect flow when it is `connect` and `connect` is given;
        `why` says which and why), `StepUpRequired` when the connect flow needs a My Account
        API token the tenant will issue only after the user authenticates again, and
        `TokenVaultError` on any other failure. `login_hint` picks one of several accounts of
        the connection (work or personal), at Token Vault and in the connect flow.
        """
        if (
            connect is not None
            and connect.access_token is None
            and subject_token_type != "refresh_token"  # noqa: S105
        ):
            raise ValueError(
                "a ConnectContext without access_token needs a refresh token as the subject "
                "(the vault gets the My Account API token from it)"
            )
        form = exchange_form(
            subject_token,
            client_id=self.client_id,
            client_secret=self._client_secret,
            connection=connection,
            subject_token_type=subject_token_type,
            login_hint=login_hint,
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
                response.status_code, json_object(response.content), connection, scopes
            )
        except LinkRequired as needed:
            raise await self._way_for(
                needed, link, connect, subject_token=subject_token, login_hint=login_hint
            ) from None
        except TokenVaultError as failure:
            if subject_token not in failure.description:
                raise
            # An upstream description that quotes the token must not carry it into logs.
            redacted = failure.description.replace(subject_token, "[subject token]")
            raise TokenVaultError(failure.code, redacted, status_code=failure.status_code) from None

    def via(self, connection: str) -> Way:
        """The configured way to fill Token Vault for `connection`."""
        if isinstance(self._via, Mapping):
            return self._via.get(connection, "auto")
        return self._via

    async def _way_for(
        self,
        needed: LinkRequired,
        link: LinkContext | None,
        connect: ConnectContext | None,
        *,
        subject_token: str,
        login_hint: str | None,
    ) -> LinkRequired:
        """`needed`, saying which way the user goes and why, with the request for it when
        possible."""
        name, way = needed.connection, self.via(needed.connection)
        if way == "link":
            return self._link(needed, link, f"via='link' is configured for {name}")
        if connect is None:
            if way == "connect":
                return needed.because(
                    "connect",
                    f"via='connect' is configured for {name}; pass connect=ConnectContext(...) "
                    "to start the connect flow",
                )
            return self._link(
                needed,
                link,
                f"via='auto' had no ConnectContext to ask the tenant whether {name} is enabled "
                "for Connected Accounts; pass connect=ConnectContext(...) to ask",
            )
        rotated: str | None = None
        if connect.access_token:
            token = connect.access_token
        else:
            token, rotated = await self._my_account_token(connect, subject_token)
        try:
            request = await connect.accounts.start(
                token,
                connection=name,
                redirect_uri=connect.redirect_uri,
                scopes=needed.scopes,
                login_hint=login_hint or connect.login_hint,
            )
        except ConnectError as refused:
            if way == "connect" or refused.status_code != 400:
                failure = TokenVaultError(
                    refused.code, refused.description, status_code=refused.status_code
                )
                raise failure.keeping(rotated) from None
            return self._link(
                needed,
                link,
                f"the tenant refused to connect {name} ({refused.description}): a connection "
                "not enabled for Connected Accounts keeps the tokens of its logins, which a "
                "link through linker adds",
            ).keeping(rotated)
        why = (
            f"via='connect' is configured for {name}"
            if way == "connect"
            else f"the tenant accepted a connect request for {name}: Connected Accounts for "
            "Token Vault is on for it, so only a connected account fills Token Vault"
        )
        return needed.with_connect(request, why=why).keeping(rotated)

    def _link(self, needed: LinkRequired, link: LinkContext | None, why: str) -> LinkRequired:
        if link is not None:
            return needed.with_link(link.settings, link.id_token_hint, why=why)
        return needed.because("link", why)

    async def _my_account_token(
        self, connect: ConnectContext, refresh_token: str
    ) -> tuple[str, str | None]:
        """A My Account API token from the refresh token being exchanged (MRRT), and the
        refresh token the tenant rotated it to, if it did; `StepUpRequired` passes through,
        any other refusal is a `TokenVaultError`."""
        try:
            token = await connect.accounts.token_from_refresh_token(
                refresh_token, client_id=self.client_id, client_secret=self._client_secret
            )
        except ConnectError as failed:
            raise TokenVaultError(
                failed.code, failed.description, status_code=failed.status_code
            ) from None
        rotated = token.refresh_token if token.refresh_token != refresh_token else None
        return token.access_token, rotated


def exchange_form(
    subject_token: str,
    *,
    client_id: str,
    client_secret: str,
    connection: str,
    subject_token_type: str = "refresh_token",  # noqa: S107
    login_hint: str | None = None,
) -> dict[str, str]:
    """The form of a Token Vault exchange (client_secret_post authentication).

    It names no scopes: Token Vault has no such parameter and answers what was granted.
    """
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
    return form


def parse_exchange_response(
    status_code: int, body: Mapping[str, Any], connection: str, scopes: ScopeInput = None
) -> FederatedToken:
    """Decide what the tenant's answer means: a token, `LinkRequired`, or `TokenVaultError`.

    `body` is the JSON object of the answer (empty when it was not one). A token whose granted
    `scope` lacks one of `scopes` is not what the caller needs: `LinkRequired`, with `granted`.
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
            granted = scope_tuple(scope)
            if any(wanted not in granted for wanted in scope_tuple(scopes)):
                raise LinkRequired(connection, scopes, granted=granted, found=True)
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


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
