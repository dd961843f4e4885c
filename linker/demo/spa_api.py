"""The single-page sample's own API: what an API server does with the SPA's access token.

It validates a Bearer access token issued for its audience (RS256 against the tenant's JWKS,
`iss`, `aud`, `exp`) and treats the token's `sub` as the user, nothing else: no token arrives
in a body, and the browser never holds a Management API token. Linking leaves `sub` as it
was (the primary keeps its id; the secondary's id becomes one of its identities), so the
API's record for the user, keyed by `sub`, is the same record before and after a link.

Routes (mounted by `spa_app`): `GET /api/me` (the API's record for this `sub`), and
`GET /api/identities` (read server-side through the Management API with the API server's
own machine client).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from linker.core.claims import json_object
from linker.core.id_tokens import TokenRejected, check_common_claims, key_id, verify_rs256
from linker.core.keys import KeyCache
from linker.demo.config import SampleAppConfig
from linker.demo.tenant_client import DemoError, TenantClient

NO_STORE = {"cache-control": "no-store"}


@dataclass
class UserRecord:
    """What the API keeps per user, keyed by `sub`: where an app keeps its own user data."""

    first_seen: float
    calls: int = 0


class SpaApi:
    """Access token checks and the API's two routes."""

    def __init__(
        self,
        *,
        tenant_url: str,
        audience: str,
        management: SampleAppConfig,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tenant_url = tenant_url.rstrip("/")
        self.audience = audience
        self.clock = clock
        self.http = http
        self.keys = KeyCache(self._fetch_jwks, clock=clock)
        self.management = TenantClient(management, http, clock=clock)
        self.users: dict[str, UserRecord] = {}

    async def verify(self, request: Request) -> dict[str, Any]:
        """The claims of the request's Bearer token; `TokenRejected` says why it is refused."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRejected("no Bearer access token")
        token = token.strip()
        try:
            keys = await self.keys.keys_for(key_id(token))
        except DemoError as exc:
            raise TokenRejected(str(exc)) from None
        claims = verify_rs256(token, keys)
        check_common_claims(
            claims,
            issuer=self.tenant_url + "/",
            audience=self.audience,
            now=self.clock(),
            id_token=False,
        )
        return claims

    async def me(self, request: Request) -> Response:
        try:
            claims = await self.verify(request)
        except TokenRejected as exc:
            return _unauthorized(str(exc))
        sub = str(claims["sub"])
        record = self.users.setdefault(sub, UserRecord(first_seen=self.clock()))
        record.calls += 1
        return JSONResponse(
            {
                "sub": sub,
                "record": {"first_seen": _iso(record.first_seen), "calls": record.calls},
                "token": {
                    "issued_at": _iso(float(claims.get("iat", 0))),
                    "audience": claims.get("aud"),
                    "scope": claims.get("scope", ""),
                },
            },
            headers=NO_STORE,
        )

    async def identities(self, request: Request) -> Response:
        try:
            claims = await self.verify(request)
        except TokenRejected as exc:
            return _unauthorized(str(exc))
        try:
            found = await self.management.identities(str(claims["sub"]))
        except DemoError as exc:
            return JSONResponse({"error": "upstream", "error_description": str(exc)}, 502)
        body = [
            {"connection": i.connection, "provider": i.provider, "user_id": i.user_id}
            for i in found
        ]
        return JSONResponse({"sub": claims["sub"], "identities": body}, headers=NO_STORE)

    async def _fetch_jwks(self) -> dict[str, Any]:
        try:
            response = await self.http.get(f"{self.tenant_url}/.well-known/jwks.json")
        except httpx.HTTPError:
            raise DemoError("the tenant's signing keys could not be read") from None
        body = json_object(response.content)
        if response.status_code != 200 or not body:
            raise DemoError("the tenant's signing keys could not be read")
        return body


def _unauthorized(reason: str) -> JSONResponse:
    return JSONResponse(
        {"error": "invalid_token", "error_description": reason},
        status_code=401,
        headers={**NO_STORE, "www-authenticate": 'Bearer error="invalid_token"'},
    )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
