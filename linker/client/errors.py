"""Errors of the client API: a machine code and a description, like the service's own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from linker.client.link_url import LinkRequest, LinkSettings
from linker.client.scopes import ScopeInput, scope_tuple

if TYPE_CHECKING:
    from linker.client.connected_accounts import ConnectRequest

Via = Literal["link", "connect"]
"""How the app fills Token Vault for a connection: `link` the identity through linker (a
connection used only to log in), or `connect` it through the My Account API (a connection whose
purposes include Connected Accounts for Token Vault)."""


class ClientError(Exception):
    """Base of the client's errors: `code` is machine-readable, `description` is for people."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description


class TokenVaultError(ClientError):
    """Token Vault refused or failed; `code` is the tenant's `error` (or a local one).

    Local codes: `upstream_unavailable` (the tenant could not be reached) and
    `invalid_response` (the tenant answered something that is not a token response).
    `status_code` is the HTTP status, or None when there was no answer.
    """

    def __init__(self, code: str, description: str, *, status_code: int | None = None) -> None:
        super().__init__(code, description)
        self.status_code = status_code


class LinkRequired(ClientError):
    """Token Vault cannot serve `connection` with `scopes` yet; the user must act first.

    `via` says how: `"link"` (send the user to `link_url`, a link request through linker;
    `link_request` then holds the state, nonce and PKCE verifier the app keeps for its
    callback) or `"connect"` (send the user to `connect_request.url`, the My Account API's
    connect flow; keep `connect_request` for `ConnectedAccounts.complete`). `granted` is what
    Token Vault holds for the connection (None: nothing at all), so `reason` is `not_found`
    or `insufficient_scope`. `url` is where to send the user, whichever the way.
    """

    def __init__(
        self,
        connection: str,
        scopes: ScopeInput = None,
        link_url: str | None = None,
        *,
        link_request: LinkRequest | None = None,
        via: Via = "link",
        connect_request: ConnectRequest | None = None,
        granted: ScopeInput = None,
        found: bool = False,
    ) -> None:
        self.connection = connection
        self.scopes = scope_tuple(scopes)
        self.link_request = link_request
        if link_url is None and link_request is not None:
            link_url = link_request.url
        self.link_url = link_url
        self.via: Via = via
        self.connect_request = connect_request
        self.granted: tuple[str, ...] | None = scope_tuple(granted) if found else None
        wanted = f" with scopes {' '.join(self.scopes)}" if self.scopes else ""
        how = "link" if via == "link" else "connect (My Account API)"
        super().__init__("link_required", f"{how} the {connection} connection{wanted} first")

    @property
    def reason(self) -> str:
        return "not_found" if self.granted is None else "insufficient_scope"

    @property
    def url(self) -> str | None:
        """Where to send the user: the link URL or the connect URL, as `via` says."""
        if self.via == "connect":
            return self.connect_request.url if self.connect_request is not None else None
        return self.link_url

    def _copy(
        self, *, link_request: LinkRequest | None, via: Via, connect: ConnectRequest | None
    ) -> LinkRequired:
        return LinkRequired(
            self.connection,
            self.scopes,
            link_request=link_request,
            via=via,
            connect_request=connect,
            granted=self.granted,
            found=self.granted is not None,
        )

    def with_link(self, settings: LinkSettings, id_token_hint: str) -> LinkRequired:
        """The same error, carrying a fresh link request for the user of `id_token_hint`."""
        request = settings.link_request(
            connection=self.connection,
            id_token_hint=id_token_hint,
            connection_scope=self.scopes,
        )
        return self._copy(link_request=request, via="link", connect=None)

    def with_connect(self, request: ConnectRequest) -> LinkRequired:
        """The same error, carrying a started connect flow (the My Account API's way)."""
        return self._copy(link_request=None, via="connect", connect=request)
