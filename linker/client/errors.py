"""Errors of the client API: a machine code and a description, like the service's own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Self

from linker.client.link_url import LinkRequest, LinkSettings
from linker.client.scopes import ScopeInput, scope_tuple

if TYPE_CHECKING:
    from linker.client.connected_accounts import ConnectRequest

Via = Literal["link", "connect"]
"""How the app fills Token Vault for a connection: `link` the identity through linker (a
connection used only to log in), or `connect` it through the My Account API (a connection whose
purposes include Connected Accounts for Token Vault)."""


class ClientError(Exception):
    """Base of the client's errors: `code` is machine-readable, `description` is for people.

    `rotated_refresh_token` is set when the call used the caller's refresh token and the
    tenant rotated it (refresh token rotation): the one passed in is spent, and this one must
    be stored in its place, or the user's next exchange fails and the tenant may revoke the
    whole family. It is never in the message or the repr."""

    rotated_refresh_token: str | None = None

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description

    def keeping(self, rotated_refresh_token: str | None) -> Self:
        """This error, carrying `rotated_refresh_token` (None: nothing was rotated)."""
        self.rotated_refresh_token = rotated_refresh_token
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its attributes, not by calling `__init__` with the message (each
        # subclass takes other arguments): errors cross process pools and task queues.
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))


def _rebuilt(kind: type[ClientError], args: tuple[Any, ...], state: dict[str, Any]) -> ClientError:
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class TokenVaultError(ClientError):
    """Token Vault refused or failed; `code` is the tenant's `error` (or a local one).

    Local codes: `upstream_unavailable` (the tenant could not be reached) and
    `invalid_response` (the tenant answered something that is not a token response).
    `status_code` is the HTTP status, or None when there was no answer.
    """

    def __init__(self, code: str, description: str, *, status_code: int | None = None) -> None:
        super().__init__(code, description)
        self.status_code = status_code


class ManagementApiError(ClientError):
    """The Management API refused or failed (`ConnectedAccountsCheck`); `code` is its
    `errorCode` (or `upstream_unavailable`, `invalid_response`), `status_code` its status."""

    def __init__(self, code: str, description: str, *, status_code: int | None = None) -> None:
        super().__init__(code, description)
        self.status_code = status_code


# The OpenID PAPE policy Auth0 reads in `acr_values` to ask for multi-factor authentication:
# https://auth0.com/docs/secure/multi-factor-authentication/step-up-authentication
MFA_ACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
AskFor = Literal["second_factor", "sign_in"]


class StepUpRequired(ClientError):
    """The tenant will not issue a My Account API token until the user authenticates again.

    The My Account API's Default Policy (https://auth0.com/docs/manage-users/my-account-api)
    wants a second factor within the last 15 minutes, at login and at every refresh token
    exchange for the API. `ask_for` says what to ask the user for:

    - `"second_factor"` (`mfa_required`): the user has an enrolled factor and last used it more
      than 15 minutes ago: sign in again and complete it;
    - `"sign_in"` (`unmet_authentication_requirements`): the user has no factor and signed in
      more than 15 minutes ago: a fresh sign-in, then the app may offer to enroll one.

    `authorize_params` are the extra `/authorize` parameters that ask for it (`prompt=login`,
    and the multi-factor `acr_values` for a second factor). After that login, get the My
    Account API token again with the new refresh token.
    """

    def __init__(
        self, code: str, description: str, *, ask_for: AskFor, status_code: int | None = None
    ) -> None:
        super().__init__(code, description)
        self.ask_for: AskFor = ask_for
        self.status_code = status_code

    @property
    def authorize_params(self) -> dict[str, str]:
        params = {"prompt": "login"}
        if self.ask_for == "second_factor":
            params["acr_values"] = MFA_ACR
        return params

    @property
    def message(self) -> str:
        """What to tell the user, in plain words."""
        if self.ask_for == "second_factor":
            return (
                "To connect an account, sign in again and confirm with your second factor "
                "(the one-time code or key you enrolled)."
            )
        return "To connect an account, sign in again: your sign-in is more than 15 minutes old."


class LinkRequired(ClientError):
    """Token Vault cannot serve `connection` with `scopes` yet; the user must act first.

    `via` says how: `"link"` (send the user to `link_url`, a link request through linker;
    `link_request` then holds the state, nonce and PKCE verifier the app keeps for its
    callback) or `"connect"` (send the user to `connect_request.url`, the My Account API's
    connect flow; keep `connect_request` for `ConnectedAccounts.complete`). `why` says, for
    people, why that way was chosen (the configuration, or what the tenant answered when
    `TokenVault(via="auto")` asked it). `granted` is what Token Vault holds for the connection
    (None: nothing at all), so `reason` is `not_found` or `insufficient_scope`. `url` is where
    to send the user, whichever the way.
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
        why: str = "",
    ) -> None:
        self.connection = connection
        self.why = why
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
        self,
        *,
        link_request: LinkRequest | None,
        via: Via,
        connect: ConnectRequest | None,
        why: str | None,
    ) -> LinkRequired:
        return LinkRequired(
            self.connection,
            self.scopes,
            link_request=link_request,
            via=via,
            connect_request=connect,
            granted=self.granted,
            found=self.granted is not None,
            why=self.why if why is None else why,
        )

    def with_link(
        self, settings: LinkSettings, id_token_hint: str, *, why: str | None = None
    ) -> LinkRequired:
        """The same error, carrying a fresh link request for the user of `id_token_hint`."""
        request = settings.link_request(
            connection=self.connection,
            id_token_hint=id_token_hint,
            connection_scope=self.scopes,
        )
        return self._copy(link_request=request, via="link", connect=None, why=why)

    def with_connect(self, request: ConnectRequest, *, why: str | None = None) -> LinkRequired:
        """The same error, carrying a started connect flow (the My Account API's way)."""
        return self._copy(link_request=None, via="connect", connect=request, why=why)

    def because(self, via: Via, why: str) -> LinkRequired:
        """The same error, saying which way and why, without a request for it."""
        return self._copy(link_request=None, via=via, connect=None, why=why)
