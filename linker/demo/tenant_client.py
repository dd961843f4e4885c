"""The sample app's calls to its tenant: the code and refresh grants, ID token checks, and the
Management API read that lists the user's identities.

The ID token checks are linker's own (`linker.core.id_tokens`, `linker.core.keys`): RS256
against the tenant's JWKS, `iss`, `aud`, `exp`, `iat`, and here also `azp` and the `nonce` of
the sign-in.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from starlette.applications import Starlette

from linker.core.claims import json_object
from linker.core.id_tokens import TokenRejected, check_common_claims, key_id, verify_rs256
from linker.core.identities import Identity
from linker.core.keys import KeyCache
from linker.demo.config import SampleAppConfig

MANAGEMENT_TOKEN_MARGIN = 60


class DemoError(Exception):
    """A failed call to the tenant; the message is safe to show to the user."""


@dataclass(frozen=True)
class Tokens:
    """A verified sign-in: the ID token, its claims, and the refresh token if one came."""

    id_token: str = field(repr=False)
    claims: dict[str, Any]
    refresh_token: str | None = field(default=None, repr=False)


class TenantClient:
    """OAuth and Management API calls of the sample app, through one shared `httpx` client."""

    def __init__(
        self, config: SampleAppConfig, http: httpx.AsyncClient, *, clock: Callable[[], float]
    ) -> None:
        self._config = config
        self._http = http
        self._clock = clock
        self._keys = KeyCache(self._fetch_jwks, clock=clock)
        self._management_token: tuple[str, float] | None = None

    async def redeem_code(self, code: str, *, code_verifier: str, nonce: str) -> Tokens:
        """Exchange an authorization code (PKCE) and verify the ID token against `nonce`."""
        body = await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": code_verifier,
                "redirect_uri": self._config.redirect_uri,
            }
        )
        return await self._tokens(body, nonce=nonce, refresh_token=None)

    async def refresh(self, refresh_token: str) -> Tokens:
        """A fresh ID token from the refresh token (kept unless the tenant rotates it)."""
        body = await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        return await self._tokens(body, nonce=None, refresh_token=refresh_token)

    async def verify_id_token(self, id_token: str, *, nonce: str | None) -> dict[str, Any]:
        """Signature and claims; `nonce` is None for refreshed tokens, which carry none."""
        try:
            keys = await self._keys.keys_for(key_id(id_token))
            claims = verify_rs256(id_token, keys)
            check_common_claims(
                claims,
                issuer=self._config.issuer,
                audience=self._config.client_id,
                now=self._clock(),
            )
            azp = claims.get("azp")
            if azp is not None and azp != self._config.client_id:
                raise TokenRejected("'azp' names another client")
            if nonce is not None and not hmac.compare_digest(
                str(claims.get("nonce", "")).encode(), nonce.encode()
            ):
                raise TokenRejected("'nonce' does not match this sign-in")
        except TokenRejected as exc:
            raise DemoError(f"The tenant's ID token was refused: {exc}.") from None
        return claims

    async def identities(self, user_id: str) -> list[Identity]:
        """The user's identities, primary first, from `GET /api/v2/users/{id}`."""
        token = await self._api_token()
        url = f"{self._config.tenant_url}/api/v2/users/{quote(user_id, safe='')}"
        response = await self._send("GET", url, headers={"Authorization": f"Bearer {token}"})
        if response.status_code == 401:
            self._management_token = None
        body = json_object(response.content)
        if response.status_code != 200:
            raise DemoError(f"The Management API answered {_error_of(response, body)}.")
        try:
            return [Identity.from_auth0(raw) for raw in body.get("identities", [])]
        except (ValueError, AttributeError):
            raise DemoError("The Management API listed a malformed identity.") from None

    async def _api_token(self) -> str:
        cached = self._management_token
        if cached is not None and self._clock() < cached[1]:
            return cached[0]
        body = await self._token_request(
            {"grant_type": "client_credentials", "audience": f"{self._config.tenant_url}/api/v2/"}
        )
        token, expires_in = body.get("access_token"), body.get("expires_in", 0)
        if not isinstance(token, str) or not isinstance(expires_in, int):
            raise DemoError("The tenant's client-credentials answer is malformed.")
        self._management_token = (token, self._clock() + expires_in - MANAGEMENT_TOKEN_MARGIN)
        return token

    async def _tokens(
        self, body: dict[str, Any], *, nonce: str | None, refresh_token: str | None
    ) -> Tokens:
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise DemoError("The tenant's token answer carries no ID token.")
        claims = await self.verify_id_token(id_token, nonce=nonce)
        rotated = body.get("refresh_token")
        return Tokens(
            id_token=id_token,
            claims=claims,
            refresh_token=rotated if isinstance(rotated, str) else refresh_token,
        )

    async def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        data = {
            **form,
            "client_id": self._config.client_id,
            "client_secret": self._config.client_secret,
        }
        response = await self._send("POST", f"{self._config.tenant_url}/oauth/token", data=data)
        body = json_object(response.content)
        if response.status_code != 200:
            raise DemoError(
                f"The tenant refused the {form['grant_type']} grant ({_error_of(response, body)})."
            )
        return body

    async def _fetch_jwks(self) -> dict[str, Any]:
        response = await self._send("GET", f"{self._config.tenant_url}/.well-known/jwks.json")
        body = json_object(response.content)
        if response.status_code != 200 or not body:
            raise DemoError("The tenant's signing keys could not be read.")
        return body

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise DemoError(f"The tenant could not be reached ({type(exc).__name__}).") from None


def _error_of(response: httpx.Response, body: dict[str, Any]) -> str:
    error = body.get("error")
    return (
        f"HTTP {response.status_code}: {error}"
        if isinstance(error, str)
        else f"HTTP {response.status_code}"
    )


def closing(
    owned: httpx.AsyncClient | None,
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """A lifespan that closes `owned`, the client an app made for itself, at shutdown (an
    injected client belongs to the caller: pass None)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned is not None:
                await owned.aclose()

    return lifespan
