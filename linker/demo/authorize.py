"""The `/authorize` requests the sample app sends the browser to, and what each leaves behind.

Pure: each builder returns the URL and the `Pending` entry (kind, nonce, PKCE verifier) that
the session keeps under the request's state until the tenant redirects back to `/callback`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from linker.client import LinkRequest, build_authorize_url, random_token, s256_challenge
from linker.demo.config import LOGIN_SCOPE, SampleAppConfig
from linker.demo.sessions import Pending, PendingKind


@dataclass(frozen=True)
class Attempt:
    """Where to send the browser, and the pending entry to keep under `state`."""

    url: str
    state: str
    pending: Pending


def sign_in(
    config: SampleAppConfig, *, now: float, extra: Mapping[str, str] | None = None
) -> Attempt:
    """Sign in to the app (code flow, PKCE, nonce); `extra` adds parameters (a step-up's
    `prompt=login` and `acr_values`)."""
    state, nonce, verifier = random_token(), random_token(), random_token()
    pending = Pending(kind="login", nonce=nonce, code_verifier=verifier, created_at=now)
    url = build_authorize_url(
        f"{config.tenant_url}/authorize",
        client_id=config.client_id,
        redirect_uri=config.redirect_uri,
        scope=LOGIN_SCOPE,
        state=state,
        nonce=nonce,
        code_challenge=s256_challenge(verifier),
        extra=dict(extra or {}),
    )
    return Attempt(url, state, pending)


def link(request: LinkRequest, *, now: float, connect: bool = False) -> Attempt:
    """A link or unlink request built by `linker.client`, as an attempt to keep; `connect`
    marks a link that grants scopes for the agent (its outcome is told differently)."""
    kind: PendingKind = "unlink" if request.action == "unlink" else "link"
    pending = Pending(
        kind="connect" if connect else kind,
        nonce=request.nonce,
        code_verifier=request.code_verifier,
        created_at=now,
        connection=request.connection,
    )
    return Attempt(request.url, request.state, pending)


def logout_url(config: SampleAppConfig) -> str:
    """The tenant's `/v2/logout`, returning to the app's home page."""
    params = {"client_id": config.client_id, "returnTo": f"{config.public_url}/"}
    return f"{config.tenant_url}/v2/logout?{urlencode(params, quote_via=quote)}"
