"""The HTTP client for every call to the tenant, on aiohttp, behind the `Upstream` interface.

An identity service should not carry its own HTTP stack: aiohttp's parser, pool, TLS and
proxy code are kept safe by far more users than ours would be. What linker asks of it:
- one `ClientSession` per process (per `TenantHttp`), opened on first use inside the event
  loop that runs it; at most `connections` requests in flight. When all are busy, a request
  waits for one at most `POOL_WAIT_SHARE` of its own `limit` (its step's remaining budget),
  so the rest of that limit is left for the answer, and at most `POOL_WAITERS_PER_CONNECTION`
  requests per connection wait at all: past either bound it is refused (`PoolBusy`), never
  sent, rather than queued without end. A fixed wait would refuse a burst that the budget
  could carry, or send a request with too little time left to be answered;
- idle connections are closed after `KEEPALIVE_SECONDS`, below the idle timeout of the
  servers in front of a tenant, so a request rarely meets a connection the server is closing;
- answers are bounded: aiohttp's default limits on the status line and each header line
  (8190 bytes; an endless header fails at once, it is never buffered), and `MAX_BODY_BYTES`
  of body, counted after any content coding is undone;
- no cookie is kept (Auth0 sets `did` on some endpoints; it must not ride along on other
  users' calls) and no redirect is followed;
- the egress proxy: `LINKER_PROXY_URL` when set, else `HTTPS_PROXY` / `HTTP_PROXY` /
  `NO_PROXY` as every HTTP client reads them (aiohttp's own reading of them). They are read
  once per origin, not on every request as aiohttp's `trust_env` does (two thread hops per
  request), and `~/.netrc` is never consulted: its credentials must not reach the tenant;
- trust: the system's CA store (`SSL_CERT_FILE` / `SSL_CERT_DIR` replace it, as OpenSSL
  reads them), plus `LINKER_CA_FILE` for a corporate TLS-inspecting proxy's CA. Verification
  of the certificate and of the host name cannot be turned off;
- only a safe read (GET, HEAD) is sent again when a pooled connection turns out to be closed;
  aiohttp would also resend PUT and DELETE, and a Management API write must never be resent
  blindly, so its own resend is off and this client decides;
- every failure becomes one of linker's own (`linker.tenant.transport`), which the `Retrier` sorts.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from linker.settings import Settings
from linker.tenant.transport import (
    POOL_CONNECTIONS,
    POOL_WAIT_SHARE,
    POOL_WAITERS_PER_CONNECTION,
    TIMEOUT_SECONDS,
    AnswerLost,
    PoolBusy,
    Reply,
    TlsRefused,
    Unreached,
    Unsendable,
    UpstreamFailure,
    encode_body,
)

# Below the idle timeout of the load balancers in front of a tenant (commonly 60 s or more).
KEEPALIVE_SECONDS = 15.0
# A tenant that moves (a failover) is followed within this many seconds.
DNS_CACHE_SECONDS = 10
HAPPY_EYEBALLS_DELAY = 0.25
MAX_BODY_BYTES = 16 * 1024 * 1024
# Safe to send again on a fresh connection when a pooled one was closed under it.
_SAFE_METHODS = frozenset({"GET", "HEAD"})
# Only characters RFC 3986 allows in a URL, so its escapes are already made: linker quotes
# each path segment and query value it puts in a URL (one character class: no backtracking).
_ENCODED = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")


@dataclass(frozen=True, slots=True)
class Route:
    """How an origin is reached: directly, or through `proxy` (named by `source`)."""

    proxy: URL | None
    auth: aiohttp.BasicAuth | None
    source: str

    def describe(self) -> str:
        """How, for an operator; a proxy's credentials are never shown."""
        if self.proxy is None:
            return f"directly ({self.source})"
        shown = self.proxy.with_user(None).with_path("").with_query(None)
        return f"through proxy {shown} (from {self.source})"


def trust(ca_file: Path | None = None) -> ssl.SSLContext:
    """The TLS context for the tenant: the system's store, plus `ca_file` when given."""
    context = ssl.create_default_context()  # certificate and host name both checked
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


class TenantHttp:
    """The service's `Upstream`: at most `connections` requests on the wire at once; the
    others wait their share of their own limit (and no more than `pool_wait` seconds, when
    given), `connections * POOL_WAITERS_PER_CONNECTION` of them at most."""

    def __init__(
        self,
        *,
        proxy_url: str | None = None,
        ca_file: Path | None = None,
        connections: int = POOL_CONNECTIONS,
        pool_wait: float | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.connections = connections
        self.pool_wait = pool_wait
        self.max_waiting = connections * POOL_WAITERS_PER_CONNECTION
        self._waiting = 0
        self._tls = tls if tls is not None else trust(ca_file)
        self._explicit = _explicit_route(proxy_url) if proxy_url else None
        # Read once: a process's environment does not change under it.
        self._env_proxies = bool(urllib.request.getproxies())
        self._routes: dict[tuple[str, str], Route] = {}
        self._slots = asyncio.Semaphore(connections)
        self._session: aiohttp.ClientSession | None = None

    def proxies_named(self) -> bool:
        """Whether `LINKER_PROXY_URL` or the environment names any proxy."""
        return self._explicit is not None or self._env_proxies

    def route(self, url: str) -> Route:
        """Directly or through which proxy `url` is reached."""
        if self._explicit is not None:
            return self._explicit
        if not self._env_proxies:
            return _DIRECT
        origin = _origin(url)
        route = self._routes.get(origin)
        if route is None:
            if len(self._routes) > 64:  # a few tenant origins; never grown without bound
                self._routes.clear()
            route = self._routes[origin] = _env_route(*origin)
        return route

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.connections,
            keepalive_timeout=KEEPALIVE_SECONDS,
            ttl_dns_cache=DNS_CACHE_SECONDS,
            happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
            ssl=self._tls,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # the proxy is chosen by `route`, and ~/.netrc never read
            raise_for_status=False,
        )
        # aiohttp resends PUT and DELETE too on a closed pooled connection; `_exchange`
        # resends only safe reads.
        session._retry_connection = False
        self._session = session
        return session

    def pool_wait_for(self, limit: float) -> float:
        """How long a request with `limit` seconds may wait for a free connection."""
        wait = limit * POOL_WAIT_SHARE
        return wait if self.pool_wait is None else min(wait, self.pool_wait)

    async def _acquire(self, limit: float) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        if self._waiting >= self.max_waiting:
            raise PoolBusy("every connection to the tenant is busy and the queue for one full")
        self._waiting += 1
        try:
            async with asyncio.timeout(self.pool_wait_for(limit)):
                await self._slots.acquire()
        except TimeoutError:
            raise PoolBusy("every connection to the tenant stayed busy") from None
        finally:
            self._waiting -= 1

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
        deadline = time.monotonic() + limit  # the wait for a connection counts against it
        await self._acquire(limit)
        try:
            return await self._exchange(method, url, sent, body, deadline)
        finally:
            self._slots.release()

    async def _exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, deadline: float
    ) -> Reply:
        session = self._session or self._open()
        route = self.route(url)
        # A URL already escaped is not parsed for escaping again (about 15 us a call).
        target = URL(url, encoded=True) if _ENCODED.fullmatch(url) else url
        resend = method in _SAFE_METHODS
        while True:
            try:
                async with session.request(
                    method,
                    target,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=max(deadline - time.monotonic(), 0.001)),
                    proxy=route.proxy,
                    proxy_auth=route.auth,
                ) as response:
                    content = await _bounded_body(response)
                    return Reply(response.status, response.headers, content)
            except (aiohttp.ClientError, OSError, ValueError) as exc:  # TimeoutError is OSError
                if resend and _stale(exc) and time.monotonic() < deadline:
                    resend = False
                    continue
                raise _failure(exc, url) from None

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> TenantHttp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _bounded_body(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, refused past `MAX_BODY_BYTES` before it is all buffered."""
    length = response.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise AnswerLost("the tenant's answer is too large")
    if response.method == "HEAD":
        return b""
    if length is not None and "Content-Encoding" not in response.headers:
        return await response.read()  # the parser stops at Content-Length: bounded above
    parts: list[bytes] = []
    size = 0
    while chunk := await response.content.readany():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise AnswerLost("the tenant's answer is too large")
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _stale(exc: BaseException) -> bool:
    """The connection dropped before an answer began: most often a pooled connection the
    server closed as the request went out."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return False  # a new connection that failed: the `Retrier`'s to decide
    return isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError)


def _failure(exc: BaseException, url: str) -> UpstreamFailure:
    """linker's own failure for what aiohttp (or the socket under it) raised."""
    where = url.partition("?")[0]  # a query may carry an identifier; it is never needed here
    if isinstance(exc, UpstreamFailure):
        return exc
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TlsRefused(f"TLS to {where} failed: {exc.certificate_error}")
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        return TlsRefused(f"TLS to {where} failed: {exc.os_error}")
    if isinstance(exc, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        return Unreached(f"the proxy did not open a way to {where}: {_said(exc)}")
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return Unreached(f"no connection to {where}: {_said(exc)}")
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError | ValueError):
        return Unsendable(f"cannot send this request to {where}")
    if isinstance(exc, TimeoutError):
        return AnswerLost(f"{where} did not answer in time")
    return AnswerLost(f"no whole answer from {where}: {_said(exc)}")


def _said(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{exc.status} {exc.message}"
    return str(exc) or type(exc).__name__


_DIRECT = Route(None, None, "no proxy set")


def _explicit_route(proxy_url: str) -> Route:
    proxy = URL(proxy_url)
    auth = aiohttp.BasicAuth.from_url(proxy) if proxy.user is not None else None
    return Route(proxy.with_user(None), auth, "LINKER_PROXY_URL")


def _env_route(scheme: str, authority: str) -> Route:
    """The proxy the environment names for an origin (or none: `NO_PROXY`, or not set)."""
    try:
        url = URL.build(scheme=scheme, authority=authority)
        proxy, auth = get_env_proxy_for_url(url)
    except (LookupError, ValueError):
        named = url.host is not None and urllib.request.proxy_bypass(url.host)
        return Route(None, None, "NO_PROXY names it" if named else f"no {scheme.upper()}_PROXY")
    return Route(proxy, auth, f"{scheme.upper()}_PROXY")


def egress_route(url: str, proxy_url: str | None) -> Route:
    """How the service reaches `url`, as it reaches the tenant: through `LINKER_PROXY_URL`
    when set, else as `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` say."""
    if proxy_url:
        return _explicit_route(proxy_url)
    if not urllib.request.getproxies():
        return _DIRECT
    return _env_route(*_origin(url))


def _origin(url: str) -> tuple[str, str]:
    """`url`'s scheme and authority, in lower case: what a proxy is chosen by."""
    scheme, _, rest = url.partition("://")
    authority = rest.partition("/")[0].partition("?")[0].partition("#")[0]
    return scheme.lower(), authority.lower()


def upstream_client(settings: Settings) -> TenantHttp:
    """The client every call to the tenant goes through, unless one is injected."""
    proxy = settings.proxy_url
    return TenantHttp(
        proxy_url=proxy.reveal() if proxy is not None else None, ca_file=settings.ca_file
    )
