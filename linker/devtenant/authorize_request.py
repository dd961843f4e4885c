"""Validating an `/authorize` request, as Auth0 does, without any I/O.

Two kinds of refusal, in Auth0's order: until the client and its exact callback URL are known,
an error can only be shown as a page (`ErrorPage`: redirecting to an unchecked URL would make
the tenant an open redirector); after that, errors go back to the client's `redirect_uri`
(`AuthorizeRedirect`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.responses import RedirectResponse, Response

from linker.devtenant.errors import ErrorPage, OAuthError
from linker.devtenant.seed import Seed

PROMPTS = frozenset({"none", "login", "consent", "select_account"})
# query: the redirect carries the answer; web_message: a page posts it to the opener or parent
# window (auth0-spa-js's getTokenSilently iframe and loginWithPopup).
RESPONSE_MODES = frozenset({"query", "web_message"})
# An S256 challenge is the base64url of a SHA-256 digest: exactly 43 characters.
S256_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class AuthRequest:
    """A checked `/authorize` request; `query` is every parameter, for the Action's event."""

    transaction_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    prompt: frozenset[str]
    max_age: int | None
    connection: str | None
    connection_scopes: tuple[str, ...]
    query: Mapping[str, str] = field(default_factory=dict)
    audience: str | None = None  # an API identifier: the access token is a JWT for it
    response_mode: str = "query"

    @property
    def forces_login(self) -> bool:
        return "login" in self.prompt or self.max_age == 0

    @property
    def silent(self) -> bool:
        return "none" in self.prompt

    def refusal(self, error: str, description: str) -> AuthorizeRedirect:
        return AuthorizeRedirect(self.redirect_uri, self.state, error, description)


class AuthorizeRedirect(OAuthError):
    """An authorization request refused once its `redirect_uri` is trusted: the error goes back
    there as query parameters, with the request's `state` (RFC 6749 section 4.1.2.1)."""

    def __init__(self, redirect_uri: str, state: str | None, error: str, description: str):
        super().__init__(302, error, description)
        self.redirect_uri = redirect_uri
        self.state = state

    @property
    def url(self) -> str:
        params = {"error": self.error, "error_description": self.description}
        if self.state is not None:
            params["state"] = self.state
        return with_query(self.redirect_uri, params)

    def response(self, headers: Mapping[str, str] | None = None) -> Response:
        return RedirectResponse(self.url, status_code=302, headers={**(headers or {})})


def parse_authorize(
    params: Mapping[str, str],
    seed: Seed,
    *,
    transaction_id: str,
    builtin_apis: frozenset[str] = frozenset(),
) -> AuthRequest:
    """Check an `/authorize` request; `builtin_apis` are the tenant's own audiences (My Account
    API) besides the seed's APIs."""
    client_id = params.get("client_id")
    if not client_id:
        raise ErrorPage(400, "invalid_request", "Missing required parameter: client_id")
    client = seed.client(client_id)
    if client is None:
        raise ErrorPage(400, "invalid_request", f"Unknown client: {client_id}")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise ErrorPage(400, "invalid_request", "Missing required parameter: redirect_uri")
    if redirect_uri not in client.callbacks:
        raise ErrorPage(
            400,
            "Callback URL mismatch",
            f"{redirect_uri} is not in the list of allowed callback URLs of {client.name}",
        )
    state = params.get("state")

    def refuse(error: str, description: str) -> AuthorizeRedirect:
        return AuthorizeRedirect(redirect_uri, state, error, description)

    response_type = params.get("response_type")
    if response_type != "code":
        raise refuse("unsupported_response_type", f"Unsupported response type: {response_type}")
    response_mode = params.get("response_mode") or "query"
    if response_mode not in RESPONSE_MODES:
        raise refuse("invalid_request", f"Unsupported response_mode: {response_mode}")
    if response_mode == "web_message" and origin_of(redirect_uri) not in client.web_origins:
        # The answer is posted to redirect_uri's origin: only to an Allowed Web Origin.
        raise ErrorPage(
            400,
            "Unauthorized origin",
            f"{origin_of(redirect_uri)} is not in the Allowed Web Origins of {client.name}",
        )
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge is None and method is not None:
        raise refuse("invalid_request", "code_challenge_method without code_challenge")
    if challenge is not None:
        # Without a method the default is "plain", which Auth0 refuses for these clients.
        if method != "S256":
            raise refuse("invalid_request", "code_challenge_method must be S256")
        if not S256_CHALLENGE.fullmatch(challenge):
            raise refuse("invalid_request", "code_challenge is not a base64url SHA-256 digest")
    prompt = frozenset(params.get("prompt", "").split())
    if not prompt <= PROMPTS or ("none" in prompt and len(prompt) > 1):
        raise refuse("invalid_request", f"Invalid prompt: {params.get('prompt')}")
    raw_max_age = params.get("max_age")
    if raw_max_age is not None and not re.fullmatch(r"[0-9]{1,9}", raw_max_age):
        raise refuse("invalid_request", "max_age must be a non-negative integer")
    connection = params.get("connection") or None
    found = seed.connection(connection) if connection is not None else None
    if connection is not None and found is None:
        raise refuse("invalid_request", f"the connection was not found: {connection}")
    if found is not None and not found.for_login:
        # A Connected-Accounts-only connection is reached through the My Account API.
        raise refuse("invalid_request", f"the connection is not enabled for login: {connection}")
    if not client.is_first_party:
        third_party_checks(params, challenge, refuse)
    audience = params.get("audience") or None
    if audience is not None and audience not in builtin_apis and seed.api(audience) is None:
        raise refuse("access_denied", f"Service not found: {audience}")
    return AuthRequest(
        transaction_id=transaction_id,
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=tuple(params.get("scope", "").split()),
        state=state,
        nonce=params.get("nonce"),
        code_challenge=challenge,
        prompt=prompt,
        max_age=None if raw_max_age is None else int(raw_max_age),
        connection=connection,
        connection_scopes=split_scopes(params.get("connection_scope", "")),
        query=dict(params),
        audience=audience,
        response_mode=response_mode,
    )


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, as a browser names an origin."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# Parameters for first-party features that a third-party application may not send:
# https://auth0.com/docs/get-started/applications/third-party-applications/security-controls
THIRD_PARTY_REFUSED = (
    "id_token_hint",
    "requested_connection",
    "requested_connection_scope",
    "requested_connection_scopes",
)


def third_party_checks(
    params: Mapping[str, str],
    challenge: str | None,
    refuse: Callable[[str, str], AuthorizeRedirect],
) -> None:
    """Third-party applications: PKCE mandatory, first-party-only parameters refused."""
    if challenge is None:
        raise refuse("invalid_request", "PKCE is required for third-party applications")
    sent = [name for name in THIRD_PARTY_REFUSED if name in params]
    if sent:
        raise refuse("invalid_request", f"{sent[0]} is not supported for third-party applications")


def split_scopes(raw: str) -> tuple[str, ...]:
    """Upstream scopes, as `connection_scope` gives them: space- or comma-separated."""
    return tuple(s for s in re.split(r"[\s,]+", raw) if s)


def with_query(url: str, params: Mapping[str, str]) -> str:
    """`url` with `params` appended to whatever query it already has."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))
