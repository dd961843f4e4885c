"""The upstream client: httpx's interface over aiohttp's connections, with a capped pool.

The service, its retries and its tests speak httpx (tests inject an `httpx.AsyncClient` over
`httpx.MockTransport`). Under it, aiohttp moves the bytes: measured against a local server,
an httpx request over its own pool cost 0.9-2.6 ms of CPU, the same request over this
transport 0.45-0.55 ms (see the commit that introduced it for the figures).

The pool is capped, and waiting for a free connection is bounded by its own short timeout:
past it the request fails with `httpx.PoolTimeout` without having been sent, and the
`Retrier` answers `upstream_unavailable` at once instead of queueing behind busy connections.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx

POOL_CONNECTIONS = 32
POOL_WAIT_SECONDS = 1.0
TIMEOUT_SECONDS = 5.0


class AiohttpTransport(httpx.AsyncBaseTransport):
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
            # The same trust store as httpx's: certifi, or SSL_CERT_FILE / SSL_CERT_DIR.
            ssl=httpx.create_ssl_context(),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the client's cookies
            auto_decompress=False,  # httpx decodes the body by its Content-Encoding
            # httpx already routes HTTPS_PROXY / NO_PROXY itself (its own proxy transports);
            # trusting the environment here too re-read it, and ~/.netrc, on every request.
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    async def _acquire(self, wait: float) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(wait):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("every upstream connection is busy") from None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        pool = timeouts.get("pool")
        await self._acquire(self.pool_wait if pool is None else min(pool, self.pool_wait))
        try:
            session = self._session or self._open()
            body = await request.aread()
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=timeouts.get("connect"), sock_read=timeouts.get("read")
            )
            try:
                async with session.request(
                    request.method,
                    str(request.url),
                    headers=request.headers.multi_items(),
                    data=body or None,
                    allow_redirects=False,
                    timeout=timeout,
                ) as answer:
                    content = await answer.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise _httpx_error(exc) from exc
        finally:
            self._slots.release()
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


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


class _Forgetful(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        """A `Set-Cookie` from the tenant is not kept."""


class UpstreamClient(httpx.AsyncClient):
    """httpx's client without a cookie jar. linker calls the tenant as a service: a cookie one
    answer sets (Auth0 sets `did` on some endpoints) must not ride along on the calls of
    other users' flows. Reading every answer's cookies into the jar also cost about 12% of
    the service's CPU."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._forgetful = _Forgetful()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._forgetful

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise TypeError("the upstream client keeps no cookies")


def upstream_client(
    *, connections: int = POOL_CONNECTIONS, pool_wait: float = POOL_WAIT_SECONDS
) -> httpx.AsyncClient:
    """The client every call to the tenant goes through, unless one is injected."""
    return UpstreamClient(
        transport=AiohttpTransport(connections=connections, pool_wait=pool_wait),
        timeout=TIMEOUT_SECONDS,
        follow_redirects=False,
    )
