"""A small HTTP/1.1 client for the tenant's endpoints, the `Upstream` linker calls in production.

linker asks little of HTTP: a handful of JSON and form requests to one or two origins, answers
of a few kilobytes, no redirects, no cookies, no proxies. A general client pays for what we
never use on every request (measured on a 2-core machine against a local server: aiohttp
130-180 us of CPU per request, this client about a third of that), so the wire work is here,
on a well-known parser: llhttp through `httptools` (uvicorn's parser), which reads status
lines, headers, chunked and length-delimited bodies.

What a pooled client must get right, and where it is done:
- at most `connections` requests in flight; waiting for a free slot is bounded by `pool_wait`,
  then `httpx.PoolTimeout` (`Http1Upstream._acquire`);
- a connection goes back to the pool only after a whole answer that allows keep-alive, with
  nothing unread; any error, timeout or cancellation closes it (`Http1Upstream._exchange`);
- idle connections the server closed are dropped as they close, and none idle longer than
  `KEEPALIVE_SECONDS` is reused, so a request rarely meets a connection the server just shut;
- answers are bounded: `MAX_HEAD_BYTES` of status line and headers, `MAX_BODY_BYTES` of body;
- no cookie is kept: linker calls the tenant as a service, and a cookie one answer sets (Auth0
  sets `did` on some endpoints) must not ride along on other users' calls;
- failures are httpx's transport exceptions, as the `Retrier` sorts them: never connected
  (`ConnectError`, `ConnectTimeout`), sent but no trustworthy answer (`ReadTimeout`,
  `ReadError`, `RemoteProtocolError`).
"""

from __future__ import annotations

import asyncio
import functools
import re
import ssl
import time
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import httpx

from linker.transport import (
    POOL_CONNECTIONS,
    POOL_WAIT_SECONDS,
    TIMEOUT_SECONDS,
    Reply,
    encode_body,
)

# An idle connection older than this is closed rather than reused: servers drop idle
# keep-alive connections after a while (commonly 5 to 75 s) and a request sent on one that is
# closing is lost.
KEEPALIVE_SECONDS = 15.0
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024

Origin = tuple[str, str, int]  # scheme, host, port


class Headers(Mapping[str, str]):
    """An answer's headers, looked up case-insensitively; repeated fields are joined by ", "."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, str]) -> None:
        self._fields = fields  # lower-cased names

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({sorted(self._fields)!r})"  # names only: values may hold secrets


class _Connection(asyncio.Protocol):
    """One connection to one origin; one request at a time; answers parsed by llhttp."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[Reply] | None = None
        self._reset()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted again
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed answer: {exc}"))

    def eof_received(self) -> bool:
        return False  # close: a half-closed connection is of no further use

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        if answer is None or answer.done():
            return
        if self._headers_done and not self._framed:
            self._finish(keep_alive=False)  # a body delimited by the end of the connection
        elif exc is None:
            self._fail(httpx.RemoteProtocolError("the server closed the connection"))
        else:
            self._fail(httpx.ReadError(str(exc) or type(exc).__name__))

    # llhttp callbacks

    def on_message_begin(self) -> None:
        if self._answered:  # a second answer to one request: nothing on this connection is trusted
            raise ValueError("more than one answer to a request")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_HEAD_BYTES:
            raise ValueError("the answer's headers are too large")
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key in ("content-length", "transfer-encoding"):
            self._framed = True
        previous = self._fields.get(key)
        self._fields[key] = text if previous is None else f"{previous}, {text}"

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._headers_done = self._status >= 200

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > MAX_BODY_BYTES:
            raise ValueError("the answer's body is too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._status < 200:  # an interim answer (103 Early Hints): the real one follows
            self._reset()
            return
        self._finish(keep_alive=self._parser.should_keep_alive())

    # the exchange

    def send(self, head: bytes, body: bytes | None, limit: float) -> asyncio.Future[Reply]:
        """Write one request; the future is its answer, or the error that ended the attempt."""
        assert self.transport is not None
        self._reset()
        answer = self._answer = self._loop.create_future()
        timer = self._loop.call_later(limit, self._timed_out)
        answer.add_done_callback(lambda _: timer.cancel())
        self.transport.write(head if body is None else head + body)
        return answer

    def _timed_out(self) -> None:
        self._fail(httpx.ReadTimeout("the tenant did not answer in time"))

    def _reset(self) -> None:
        """The state of one answer, fresh for the next (or for the real one after a 1xx)."""
        self._status = 0
        self._fields: dict[str, str] = {}
        self._head_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0
        self._framed = False  # Content-Length or chunked: the body does not end at EOF
        self._headers_done = False
        self._answered = False
        self.reusable = False

    def _finish(self, *, keep_alive: bool) -> None:
        answer = self._answer
        if answer is None or answer.done():
            return
        self._answered = True
        try:
            content = _decoded(b"".join(self._body), self._fields.get("content-encoding"))
        except (ValueError, zlib.error) as exc:
            self._fail(httpx.RemoteProtocolError(str(exc)))
            return
        self.reusable = keep_alive and not self.closed
        answer.set_result(Reply(self._status, Headers(self._fields), content))

    def _fail(self, error: Exception) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_exception(error)
        self.close()

    def usable(self) -> bool:
        return not (self.closed or self.transport is None or self.transport.is_closing())

    def close(self) -> None:
        self.closed = True
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


def _decoded(body: bytes, coding: str | None) -> bytes:
    """The body without its content coding. We ask for none (`Accept-Encoding: identity`),
    but a server may still send gzip or deflate."""
    coding = (coding or "").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return _inflate(body, zlib.MAX_WBITS)
    raise ValueError(f"unsupported content coding {coding!r}")


def _inflate(body: bytes, wbits: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    content = inflater.decompress(body, MAX_BODY_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError("the answer's body is too large")
    return content


# RFC 9110 5.1 and 5.5: a field name is a token; a value never holds CR, LF or NUL.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSAFE_VALUE = re.compile(r"[\r\n\0]")
# A request target is sent as it is: no whitespace or control character may split the line.
_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f]")


def _check_header(name: str, value: str) -> None:
    if not _FIELD_NAME.fullmatch(name) or _UNSAFE_VALUE.search(value):
        raise httpx.LocalProtocolError(f"header {name!r} cannot be sent")


def request_head(
    method: str, target: str, host: str, headers: Mapping[str, str], length: int | None
) -> bytes:
    """The request line and headers, ready for the wire."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Accept-Encoding: identity"]
    for name, value in headers.items():
        _check_header(name, value)
        lines.append(f"{name}: {value}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Http1Upstream:
    """At most `connections` requests on the wire at once; the others wait `pool_wait` at most.

    Connections are made on first use, inside the event loop that will run them.
    """

    def __init__(
        self,
        *,
        connections: int = POOL_CONNECTIONS,
        pool_wait: float = POOL_WAIT_SECONDS,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.connections = connections
        self.pool_wait = pool_wait
        self._tls = tls
        self._slots = asyncio.Semaphore(connections)
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()

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
    ) -> Reply:
        sent, body = encode_body(headers, form, json)
        origin, host, target = _parse_url(url)
        length = len(body) if body is not None else 0 if method in _WITH_BODY else None
        head = request_head(method, target, host, sent, length)
        await self._acquire()
        try:
            return await self._exchange(origin, head, body, limit)
        finally:
            self._slots.release()

    async def _exchange(
        self, origin: Origin, head: bytes, body: bytes | None, limit: float
    ) -> Reply:
        connection = self._reuse(origin) or await self._connect(origin, limit)
        try:
            reply = await connection.send(head, body, limit)
        except BaseException:
            self._drop(connection)  # an error, a timeout or a cancellation: its state is unknown
            raise
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(origin, []).append(connection)
        else:
            self._drop(connection)
        return reply

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    def _reuse(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        oldest = time.monotonic() - KEEPALIVE_SECONDS
        while idle:
            connection = idle.pop()
            if connection.idle_since >= oldest and connection.usable():
                return connection
            self._drop(connection)
        return None

    async def _connect(self, origin: Origin, limit: float) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            tls = self._tls = self._tls or httpx.create_ssl_context()
        try:
            async with asyncio.timeout(limit):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop), host, port, ssl=tls
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"no connection to {host}:{port} in time") from None
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake (ssl.SSLError)
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}") from None
        self._open.add(connection)
        return connection

    async def aclose(self) -> None:
        for connection in self._open:
            connection.close()
        self._open.clear()
        self._idle.clear()

    async def __aenter__(self) -> Http1Upstream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


_DEFAULT_PORTS = {"http": 80, "https": 443}
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})  # sent with Content-Length: 0 when empty


# scheme, authority, then the path and query (the request target); a fragment is never sent.
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^#]*)")


def _parse_url(url: str) -> tuple[Origin, str, str]:
    """The origin, the Host header and the request target of an absolute http(s) URL."""
    parts = _URL.match(url)
    if parts is None:
        raise httpx.UnsupportedProtocol(f"cannot send a request to {url.partition('?')[0]!r}")
    origin, host = _origin(parts[1].lower(), parts[2])
    target = parts[3]
    if _UNSAFE_TARGET.search(target):
        raise httpx.LocalProtocolError("the request target has a space or a control character")
    return origin, host, target if target.startswith("/") else f"/{target}"


@functools.lru_cache(maxsize=64)
def _origin(scheme: str, authority: str) -> tuple[Origin, str]:
    """An origin and its Host header, from a URL's scheme and authority (a few, read often)."""
    default = _DEFAULT_PORTS.get(scheme)
    try:
        parts = urlsplit(f"{scheme}://{authority}")
        port = parts.port or default
    except ValueError:
        port = None
    if default is None or port is None or not parts.hostname or parts.username is not None:
        raise httpx.UnsupportedProtocol(f"cannot send a request to {scheme}://{authority}")
    hostname = parts.hostname
    named = f"[{hostname}]" if ":" in hostname else hostname  # an IPv6 literal
    host = named if port == default else f"{named}:{port}"
    return (scheme, hostname, port), host


def upstream_client(
    *, connections: int = POOL_CONNECTIONS, pool_wait: float = POOL_WAIT_SECONDS
) -> Http1Upstream:
    """The client every call to the tenant goes through, unless one is injected."""
    return Http1Upstream(connections=connections, pool_wait=pool_wait)
