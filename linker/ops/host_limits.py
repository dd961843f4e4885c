"""The host's limits, for `linker serve`: file descriptors, slow clients, and how many
connections one process holds.

Each connection costs a descriptor, and a process that runs out of them can accept nothing,
open no connection to Redis or the tenant and no audit file. Three guards:

- `raise_open_file_limit`: the soft limit (often 1024, a service manager's default) is
  raised to the hard limit at start, as much as the host allows without privileges.
- `GuardedHttpToolsProtocol`: uvicorn's httptools protocol, with a deadline for each
  request's head (a client that opens a connection and sends its headers slowly, or not at
  all, is cut off after `timeout_keep_alive` seconds instead of holding a descriptor forever:
  uvicorn counts that timeout only between requests) and a cap on open connections per process
  (uvicorn's `limit_concurrency`: beyond it a new connection gets a 503 and is closed at once,
  before it can hold anything).
- `OutOfResources`: an `OSError` that still escapes a request (`EMFILE`, out of descriptors,
  or any other) is answered 503 `upstream_unavailable` rather than a 500 with a traceback.

A buffering proxy in front (see docs/operations.md) is still the real defence against slow
clients: it holds them, not linker.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from linker.ops.logs import JsonLine

log = logging.getLogger("linker")

# Seconds a connection may take to send a request's head, and may stay idle between requests.
HEADER_TIMEOUT = 10
# Descriptors kept for everything but client connections: the store's pool (32), the
# upstream client's (100), the listening socket, the event loop, logs and the audit file.
RESERVED_DESCRIPTORS = 192
MIN_CONNECTIONS = 32
# Seconds a connection refused for the cap is kept, for its client to read the 503.
REFUSED_LINGER = 1.0

BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 19\r\nconnection: close\r\n\r\nService Unavailable"
)


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files to its hard limit; returns the limits
    (soft, hard) in force afterwards. The workers inherit them."""
    import resource  # POSIX only; `linker serve` runs there

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # as it was: the cap below follows the limit in force
    return soft, hard


def default_max_connections(open_files: int) -> int:
    """Connections one process may hold with `open_files` descriptors, keeping some in
    reserve for the store, the tenant and the files."""
    return max(MIN_CONNECTIONS, open_files - RESERVED_DESCRIPTORS)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's head and a connection
    cap (`limit_concurrency`) applied as soon as a connection is made."""

    _head_deadline: asyncio.TimerHandle | None = None
    _refused = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The cap is held here, when a connection is made. uvicorn's own check, made at each
        # request, answers 503 once the connections *reach* its limit: at the cap itself,
        # every request on every open connection would be refused. One above, it never is.
        self._cap = self.limit_concurrency
        if self._cap is not None:
            self.limit_concurrency = self._cap + 1

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cap = self._cap
        if cap is not None and len(self.connections) > cap:
            # The answer, then our end closed; what the client sends is dropped until it
            # closes too (closing over unread data would reset the connection, answer lost).
            self._refused = True
            transport.write(BUSY)
            if transport.can_write_eof():
                transport.write_eof()
            self.loop.call_later(REFUSED_LINGER, transport.close)
            return
        self._arm_head_deadline()

    def data_received(self, data: bytes) -> None:
        if not self._refused:
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_deadline()  # a request after a keep-alive pause: its own deadline

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.timeout_keep_alive, self._too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class OutOfResources:
    """An `OSError` that escaped a request before its response started: answered 503
    `upstream_unavailable` by `linker.web.edge`, never a 500; logged here once per errno name."""

    def __init__(self) -> None:
        self._logged: set[str] = set()

    def note(self, exc: OSError) -> None:
        name = errno.errorcode.get(exc.errno or 0, "OSError")
        if name not in self._logged:
            self._logged.add(name)
            log.warning(JsonLine({"event": "host_out_of_resources", "errno": name}))
