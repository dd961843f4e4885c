"""Errors of the client API: a machine code and a description, like the service's own."""

from __future__ import annotations

from linker.client.link_url import LinkRequest, LinkSettings
from linker.client.scopes import ScopeInput, scope_tuple


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
    """The user has no tokens for `connection` yet: linking it (with `scopes`) would fix that.

    `link_url` is where to send the user when the app built one; `link_request` then holds
    the state, nonce and PKCE verifier the app must keep for its callback.
    """

    def __init__(
        self,
        connection: str,
        scopes: ScopeInput = None,
        link_url: str | None = None,
        *,
        link_request: LinkRequest | None = None,
    ) -> None:
        self.connection = connection
        self.scopes = scope_tuple(scopes)
        self.link_request = link_request
        if link_url is None and link_request is not None:
            link_url = link_request.url
        self.link_url = link_url
        wanted = f" with scopes {' '.join(self.scopes)}" if self.scopes else ""
        super().__init__("link_required", f"link the {connection} connection{wanted} first")

    def with_link(self, settings: LinkSettings, id_token_hint: str) -> LinkRequired:
        """The same error, carrying a fresh link request for the user of `id_token_hint`."""
        request = settings.link_request(
            connection=self.connection,
            id_token_hint=id_token_hint,
            connection_scope=self.scopes,
        )
        return LinkRequired(self.connection, self.scopes, link_request=request)
