"""The Python API for apps and agent builders (docs/protocol.md section 6).

- `build_link_url(...)` / `LinkSettings.link_request(...)`: the `/authorize` request that links
  (or unlinks) an identity, with the state, nonce and PKCE verifier to keep.
- `build_authorize_url(...)`: any other authorization code request (sign-in, a grant for an
  audience), PKCE `S256`, with the parameters named.
- `TokenVault.exchange(...)`: an access token for a connected account, or `LinkRequired`
  (which says `via`: connect through the My Account API, or link through linker, and `why`);
  `via="auto"` (the default) asks the tenant which.
- `ConnectedAccounts.token_from_refresh_token(...)` (MRRT), `.start(...)` / `.complete(...)`,
  `.list(...)`, `.delete(...)`: the My Account API's Connected Accounts; `StepUpRequired` when
  its 2FA rule wants the user to authenticate again.
- `ConnectedAccountsCheck`: a server's check of a user's connected accounts (Management API).
- `link_required_handler`: the 401 answer of an agent API on Starlette (`LinkRequired`, and
  `StepUpRequired`).
- `EventReceiver.verify(...)`: a delivery of linker's events, verified (Standard Webhooks) and
  read as `IdentityLinked`, `IdentityUnlinked`, `UserMerged` or `Ping`; else `InvalidEvent`.
"""

from linker.client.agent_api import (
    link_required_handler,
    link_required_response,
    step_up_required_response,
    www_authenticate,
)
from linker.client.connected_accounts import (
    ConnectContext,
    ConnectedAccount,
    ConnectedAccounts,
    ConnectError,
    ConnectRequest,
    MyAccountToken,
)
from linker.client.connected_accounts_check import ConnectedAccountsCheck
from linker.client.errors import (
    ClientError,
    LinkRequired,
    ManagementApiError,
    StepUpRequired,
    TokenVaultError,
    Via,
)
from linker.client.events import (
    EventReceiver,
    IdentityLinked,
    IdentityUnlinked,
    InvalidEvent,
    LinkerEvent,
    Ping,
    UserMerged,
)
from linker.client.link_url import LinkContext, LinkRequest, LinkSettings, build_link_url
from linker.client.token_vault import FederatedToken, TokenVault
from linker.core.authorize import build_authorize_url
from linker.core.pkce import random_token, s256_challenge

__all__ = [
    "ClientError",
    "ConnectContext",
    "ConnectError",
    "ConnectRequest",
    "ConnectedAccount",
    "ConnectedAccounts",
    "ConnectedAccountsCheck",
    "EventReceiver",
    "FederatedToken",
    "IdentityLinked",
    "IdentityUnlinked",
    "InvalidEvent",
    "LinkContext",
    "LinkRequest",
    "LinkRequired",
    "LinkSettings",
    "LinkerEvent",
    "ManagementApiError",
    "MyAccountToken",
    "Ping",
    "StepUpRequired",
    "TokenVault",
    "TokenVaultError",
    "UserMerged",
    "Via",
    "build_authorize_url",
    "build_link_url",
    "link_required_handler",
    "link_required_response",
    "random_token",
    "s256_challenge",
    "step_up_required_response",
    "www_authenticate",
]
