"""Why the shared store cannot be used, in one line, for `linker check`.

The store's own errors name only their class (`ConnectionError`), and behind Sentinels redis-py
reports every failure as "no primary found". When the check's first command fails, the
first node the URL names (or each Sentinel, then the primary they name) is asked once more,
directly, with a `PING`, and what went wrong is named: an untrusted or mismatched TLS
certificate, TLS where the server speaks none or the reverse, a refused user or password,
nothing listening, no answer, or a primary name the Sentinels do not know. Only host, port
and the TLS library's own reason are printed; never the URL, which may carry a password.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from linker.state.store import cluster_nodes, sentinel_target, settle_tls_closes

PROBE_SECONDS = 2.0
E = TypeVar("E", bound=BaseException)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


async def why_unusable(url: str, ca_file: str | None) -> str | None:
    """One line saying why the store at `url` cannot be used, or None when the direct look
    finds nothing wrong (the store's own error then stands)."""
    scheme = urlsplit(url).scheme
    tls = scheme.startswith("rediss")
    if scheme.endswith("+sentinel"):
        return await _behind_sentinels(url, tls=tls, ca_file=ca_file)
    if scheme.endswith("+cluster"):
        nodes, username, password = cluster_nodes(url)
        host, port = nodes[0]
        return await _ping(Endpoint(host, port, username, password), tls=tls, ca_file=ca_file)
    parts = urlsplit(url)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    endpoint = Endpoint(parts.hostname or "localhost", parts.port or 6379, username, password)
    return await _ping(endpoint, tls=tls, ca_file=ca_file)


async def _behind_sentinels(url: str, *, tls: bool, ca_file: str | None) -> str | None:
    nodes, name, _, username, password = sentinel_target(url)
    failures = []
    for host, port in nodes:
        sentinel = Endpoint(host, port)  # asked without the primary's credentials
        failure = await _ping(sentinel, tls=tls, ca_file=ca_file, what="Sentinel")
        if failure is not None:
            failures.append(failure)
            continue
        address = await _primary_named(sentinel, name, tls=tls, ca_file=ca_file)
        if address is None:
            return f"the Sentinel at {sentinel} knows no primary named {name!r}"
        primary = Endpoint(address[0], address[1], username, password)
        return await _ping(primary, tls=tls, ca_file=ca_file, what="primary")
    return "; ".join(failures) or None


@asynccontextmanager
async def _client(endpoint: Endpoint, *, tls: bool, ca_file: str | None) -> AsyncIterator[Redis]:
    """A client for one look at `endpoint`, closed (TLS and all) on the way out."""
    client = Redis(
        host=endpoint.host,
        port=endpoint.port,
        username=endpoint.username,
        password=endpoint.password,
        ssl=tls,
        ssl_ca_certs=ca_file if tls else None,
        socket_connect_timeout=PROBE_SECONDS,
        socket_timeout=PROBE_SECONDS,
        retry=Retry(NoBackoff(), 0),  # one look: the store's own retries came first
    )
    try:
        yield client
    finally:
        await client.aclose()
        if tls:
            await settle_tls_closes()


async def _primary_named(
    sentinel: Endpoint, name: str, *, tls: bool, ca_file: str | None
) -> tuple[str, int] | None:
    async with _client(sentinel, tls=tls, ca_file=ca_file) as client:
        try:
            # redis-py's execute_command has no annotations.
            found = await client.execute_command(  # type: ignore[no-untyped-call]
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name
            )
        except RedisError:
            return None
    if not found:
        return None
    host, port = found
    return (host.decode() if isinstance(host, bytes) else str(host)), int(port)


async def _ping(
    endpoint: Endpoint, *, tls: bool, ca_file: str | None, what: str = "Redis"
) -> str | None:
    async with _client(endpoint, tls=tls, ca_file=ca_file) as client:
        try:
            await client.ping()
        except AuthenticationError:
            return f"{what} at {endpoint} refused the user name or password"
        except (RedisError, OSError) as exc:
            return f"{what} at {endpoint}: {reason(exc, tls=tls)}"
    return None


def reason(exc: BaseException, *, tls: bool) -> str:
    """What a failed connection came to, from the errors it was raised from."""
    untrusted = _cause(exc, ssl.SSLCertVerificationError)
    if untrusted is not None:
        return (
            f"its TLS certificate is not trusted ({untrusted.verify_message}); "
            "LINKER_REDIS_CA_FILE names the CA that signs it"
        )
    broken = _cause(exc, ssl.SSLError)
    if broken is not None:
        return f"TLS failed ({broken.reason or type(broken).__name__}): does it speak TLS?"
    if _cause(exc, ConnectionRefusedError) is not None:
        return "nothing accepts connections there"
    if _cause(exc, RedisTimeoutError) is not None or _cause(exc, TimeoutError) is not None:
        return f"no answer within {PROBE_SECONDS:.0f} s"
    if not tls and _cause(exc, ConnectionResetError) is not None:
        return "the connection was closed at once: a server that speaks only TLS needs rediss://"
    return type(exc).__name__


def _cause(exc: BaseException, kind: type[E]) -> E | None:
    """`exc` or the first error in its chain that is a `kind`."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
