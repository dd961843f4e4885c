"""Several ASGI apps served by uvicorn in one process, started and stopped together.

Each app gets a socket bound before anything starts, so a busy port fails fast with a clear
message. Ctrl+C (or SIGTERM) stops all of them; so does one of them stopping on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp


@dataclass(frozen=True)
class Listener:
    """One app, the socket it is served on, and the URL people use to reach it."""

    name: str
    url: str
    app: ASGIApp
    sock: socket.socket


class PortInUse(Exception):
    """A host:port could not be bound; the message says which and what to do."""


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on `host:port` (IPv4 loopback names resolve to IPv4)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUse(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    return sock


class _Server(uvicorn.Server):
    # Each uvicorn.Server installs its own SIGINT handler, and the last one wins; one handler
    # for the whole group (in `ServerGroup.run`) stops every server instead.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ServerGroup:
    """Runs the listeners' apps until `stop()` or a signal; `ready` is set once all listen."""

    def __init__(self, listeners: Sequence[Listener], *, log_level: str = "warning") -> None:
        self.listeners = list(listeners)
        self.ready = asyncio.Event()
        self._servers = [
            # log_config=None: keep the process's logging (JSON lines, see linker.ops.logs).
            _Server(uvicorn.Config(item.app, log_level=log_level, lifespan="on", log_config=None))
            for item in self.listeners
        ]
        self._failed = False

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True

    async def run(self, *, on_ready: Callable[[], None] | None = None) -> int:
        """Serve until stopped: 0 after a clean stop, 1 when a server failed to start."""
        loop = asyncio.get_running_loop()
        handled = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
                handled.append(sig)
        try:
            await asyncio.gather(
                *(
                    self._serve(s, item.sock)
                    for s, item in zip(self._servers, self.listeners, strict=True)
                ),
                self._announce(on_ready),
            )
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
        return 1 if self._failed else 0

    async def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit:
            # uvicorn exits the process when an app's startup fails; here, stop the others.
            self._failed = True
        finally:
            self.stop()
            sock.close()

    async def _announce(self, on_ready: Callable[[], None] | None) -> None:
        while not all(server.started for server in self._servers):
            if any(server.should_exit for server in self._servers):
                return
            await asyncio.sleep(0.02)
        self.ready.set()
        if on_ready is not None:
            on_ready()
