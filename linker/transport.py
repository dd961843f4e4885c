"""The upstream client: one small interface for every call to the tenant, aiohttp under it.

The service asks one thing (`Upstream.request`) and reads three things of an answer (`Answer`:
status, headers, body). `AiohttpUpstream` serves it in production: measured against a local
server, a request through httpx's client layer cost 0.9-2.6 ms of CPU over httpx's own pool
and 0.45-0.55 ms over aiohttp; aiohttp alone is cheaper still (see the commit that made it
the only layer for the figures). An `httpx.AsyncClient` can be injected instead (tests use
`httpx.MockTransport`): `as_upstream` adapts it.

Failures are httpx's transport exceptions either way, the vocabulary the `Retrier` sorts by:
`ConnectError` / `ConnectTimeout` (never reached the tenant: safe to resend), `PoolTimeout`
(never sent, and never retried), any other `TransportError` (the answer was lost: the request
may have been applied).

The pool is capped, and waiting for a free connection is bounded by its own short timeout:
past it the request fails with `httpx.PoolTimeout` at once instead of queueing behind busy
connections. No cookie is kept: linker calls the tenant as a service, and a cookie one answer
sets (Auth0 sets `did` on some endpoints) must not ride along on other users' calls.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
import httpx

POOL_CONNECTIONS = 32
POOL_WAIT_SECONDS = 1.0
TIMEOUT_SECONDS = 5.0

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class Answer(Protocol):
    """What the service reads of the tenant's answer (an `httpx.Response` is one)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class Upstream(Protocol):
    """Sends one request to the tenant; the body is a `form` or `json`, never both. `limit`
    bounds, in seconds, the wait for a connection and for each read of the answer."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        json: Any = None,
        limit: float = TIMEOUT_SECONDS,
    ) -> Answer: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Reply:
    status_code: int
    headers: Mapping[str, str]  # case-insensitive (aiohttp's CIMultiDictProxy)
    content: bytes


def encode_body(
    headers: Mapping[str, str] | None, form: Mapping[str, str] | None, json: Any
) -> tuple[dict[str, str], bytes | None]:
    """The request's headers with its Content-Type, and its body as bytes."""
    sent = dict(headers or {})
    if form is not None:
        sent["Content-Type"] = FORM
        return sent, urlencode(form).encode("ascii")
    if json is not None:
        sent["Content-Type"] = JSON
        return sent, jsonlib.dumps(json, separators=(",", ":")).encode("utf-8")
    return sent, None


class AiohttpUpstream:
    """At most `connections` requests on the wire at once; the others wait `pool_wait` at most.

    The aiohttp session is made on first use, inside the event loop that will run it.
    """

    def __init__(
        self, *, connections: int = POOL_CONNECTIONS, pool_wait: float = POOL_WAIT_SECONDS
    ) -> None:
        self.connections = connections
        self.pool_wait = pool_wait
        self._slots = asyncio.Semaphore(connections)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.connections,
            # httpx's trust store: certifi, or SSL_CERT_FILE / SSL_CERT_DIR when set.
            ssl=httpx.create_ssl_context(),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            # HTTPS_PROXY / NO_PROXY and ~/.netrc are read once, here, not on every request.
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    async def _acquire(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(self.pool_wait):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("every upstream connection is busy") from None

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        json: Any = None,
        limit: float = TIMEOUT_SECONDS,
    ) -> Answer:
        sent, body = encode_body(headers, form, json)
        await self._acquire()
        try:
            session = self._session or self._open()
            limits = aiohttp.ClientTimeout(total=None, sock_connect=limit, sock_read=limit)
            async with session.request(
                method, url, headers=sent, data=body, allow_redirects=False, timeout=limits
            ) as answer:
                return Reply(answer.status, answer.headers, await answer.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _httpx_error(exc) from exc
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AiohttpUpstream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _httpx_error(exc: Exception) -> httpx.TransportError:
    """The httpx error the `Retrier` sorts by: never connected (safe to resend) or not."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS handshake
        return httpx.ConnectError(message)
    if isinstance(exc, TimeoutError):  # aiohttp's read timeouts are TimeoutErrors too
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message)
    return httpx.ReadError(message)  # the request may have been sent: its outcome is unknown


class HttpxUpstream:
    """An injected `httpx.AsyncClient` behind the `Upstream` interface. Its owner closes it."""

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
    ) -> Answer:
        sent, body = encode_body(headers, form, json)
        return await self.client.request(method, url, headers=sent, content=body, timeout=limit)

    async def aclose(self) -> None:
        """Nothing: the client belongs to whoever made it."""


def as_upstream(http: httpx.AsyncClient | Upstream) -> Upstream:
    return HttpxUpstream(http) if isinstance(http, httpx.AsyncClient) else http


def upstream_client(
    *, connections: int = POOL_CONNECTIONS, pool_wait: float = POOL_WAIT_SECONDS
) -> AiohttpUpstream:
    """The client every call to the tenant goes through, unless one is injected."""
    return AiohttpUpstream(connections=connections, pool_wait=pool_wait)
