"""An `httpx.AsyncClient` (with a `MockTransport` or the dev tenant's ASGI app) behind the
service's `Upstream` interface, for tests.

The service's own client (`linker.tenant.http`) is aiohttp on a real socket; most tests fake
the tenant in process instead. This adapter is the whole difference: the request is encoded by
the same `encode_body`, and httpx's transport errors become the same `linker.tenant.transport`
failures the real client raises for the same event, so a fault a test injects
(`httpx.ConnectError`, `httpx.ReadTimeout`, `httpx.PoolTimeout`, a dropped answer) reaches the
`Retrier` exactly as the real one would. The wire itself is tested against loopback servers
(tests/service/test_tenant_http.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from linker.tenant.transport import (
    TIMEOUT_SECONDS,
    AnswerLost,
    PoolBusy,
    Reply,
    Unreached,
    Unsendable,
    UpstreamFailure,
    encode_body,
)


class HttpxUpstream:
    """An injected `httpx.AsyncClient` as an `Upstream`. Its owner closes it."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        json: Any = None,
        limit: float = TIMEOUT_SECONDS,
    ) -> Reply:
        sent, body = encode_body(headers, form, json)
        try:
            answer = await self.client.request(
                method, url, headers=sent, content=body, timeout=limit
            )
        except httpx.TransportError as exc:
            raise failure(exc) from None
        return Reply(answer.status_code, answer.headers, answer.content)

    async def aclose(self) -> None:
        """Nothing: the client belongs to whoever made it."""


def failure(exc: httpx.TransportError) -> UpstreamFailure:
    """The failure the service's own client raises for the same event."""
    if isinstance(exc, httpx.PoolTimeout):
        return PoolBusy(str(exc))
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return Unreached(str(exc))
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return Unsendable(str(exc))
    return AnswerLost(str(exc))
