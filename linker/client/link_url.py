"""The `/authorize` request that asks the tenant to link (or unlink) an identity.

Pure functions: no I/O. The app sends the browser to `LinkRequest.url` and keeps the rest of
the `LinkRequest` (state, nonce, PKCE verifier) in its session to finish its own code exchange
when the tenant redirects back (docs/protocol.md, sections 1 and 6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from linker.client.scopes import ScopeInput, scope_tuple
from linker.core.authorize import build_authorize_url
from linker.core.pkce import random_token, s256_challenge

DEFAULT_SCOPE = "openid profile email"
ACTION_SCOPES = {"link": "link_account", "unlink": "unlink_account"}
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")


@dataclass(frozen=True)
class LinkRequest:
    """A ready link request: where to send the browser, and what to keep until the callback."""

    # Every value below but the challenge is a secret of this one attempt (the URL carries
    # the ID token hint), so none of them shows in a repr or a log line.
    url: str = field(repr=False)
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    code_challenge: str
    action: str
    connection: str
    redirect_uri: str


@dataclass(frozen=True)
class LinkSettings:
    """What an app knows about itself to build link requests: its tenant, client and callback."""

    domain: str
    client_id: str
    redirect_uri: str
    scheme: str = "https"
    scope: str = DEFAULT_SCOPE

    def link_request(
        self,
        *,
        connection: str,
        id_token_hint: str,
        connection_scope: ScopeInput = None,
        action: str = "link",
        requested_identity: str | None = None,
    ) -> LinkRequest:
        """`build_link_url` with this app's domain, client, callback, scheme and scope."""
        return build_link_url(
            domain=self.domain,
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            connection=connection,
            id_token_hint=id_token_hint,
            connection_scope=connection_scope,
            action=action,
            scheme=self.scheme,
            scope=self.scope,
            requested_identity=requested_identity,
        )


@dataclass(frozen=True)
class LinkContext:
    """The app's link settings and the user's ID token: enough to offer a link on demand."""

    settings: LinkSettings
    id_token_hint: str = field(repr=False)


def build_link_url(
    *,
    domain: str,
    client_id: str,
    redirect_uri: str,
    connection: str,
    id_token_hint: str,
    connection_scope: ScopeInput = None,
    action: str = "link",
    scheme: str = "https",
    scope: str = DEFAULT_SCOPE,
    requested_identity: str | None = None,
) -> LinkRequest:
    """Build the `/authorize` URL that links `connection` to the user of `id_token_hint`.

    `action="unlink"` asks for the reverse; `requested_identity` (`provider|user_id`) picks
    the identity to unlink when several share the connection. Fresh state, nonce and PKCE
    verifier come with every call. Raises `ValueError` on an argument the tenant would refuse.
    """
    action_scope = ACTION_SCOPES.get(action)
    if action_scope is None:
        raise ValueError(f"action must be 'link' or 'unlink', not {action!r}")
    if scheme not in ("https", "http"):
        raise ValueError("scheme must be 'https' (or 'http' for a local dev tenant)")
    check_domain(domain)
    check_redirect_uri(redirect_uri)
    for name, value in (
        ("client_id", client_id),
        ("connection", connection),
        ("id_token_hint", id_token_hint),
    ):
        if not value:
            raise ValueError(f"{name} is required")
    if requested_identity is not None and (action != "unlink" or "|" not in requested_identity):
        raise ValueError("requested_identity is 'provider|user_id', and only for action='unlink'")
    base_scopes = scope_tuple(scope)
    if set(base_scopes) & set(ACTION_SCOPES.values()):
        # Both scopes at once make the shim report an invalid action; choose with `action`.
        raise ValueError("scope must not name link_account or unlink_account; use action")

    state, nonce, code_verifier = random_token(), random_token(), random_token()
    code_challenge = s256_challenge(code_verifier)
    extra = {"requested_connection": connection}
    connection_scopes = scope_tuple(connection_scope)
    if connection_scopes:
        extra["requested_connection_scope"] = " ".join(connection_scopes)
    if requested_identity is not None:
        extra["requested_identity"] = requested_identity
    extra["id_token_hint"] = id_token_hint
    url = build_authorize_url(
        f"{scheme}://{domain}/authorize",
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=" ".join((*base_scopes, action_scope)),
        state=state,
        nonce=nonce,
        code_challenge=code_challenge,
        extra=extra,
    )
    return LinkRequest(
        url=url,
        state=state,
        nonce=nonce,
        code_verifier=code_verifier,
        code_challenge=code_challenge,
        action=action,
        connection=connection,
        redirect_uri=redirect_uri,
    )


def check_domain(domain: str) -> None:
    if not _DOMAIN.fullmatch(domain):
        raise ValueError("domain is the bare tenant domain (example.eu.auth0.com[:port])")


def check_redirect_uri(redirect_uri: str) -> None:
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise ValueError("redirect_uri must be an absolute http(s) URL without a fragment")
