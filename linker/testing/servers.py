"""ASGI apps served by uvicorn on loopback, each in its own thread and event loop.

The listening sockets are bound here, before the server starts, so a port that cannot be bound
fails at once with its address named (`StartError`), and a port given as 0 comes from the OS.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp


class StartError(RuntimeError):
    """Something the stack needs cannot start; the message says what, in one line."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago on `host`."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def bind(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for `host:port` (port 0: one the OS picks): one per address `host`
    resolves to (`localhost` is often both 127.0.0.1 and ::1), all on the same port."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise StartError(f"cannot listen on {host}:{port}: {exc}") from None
    # IPv4 first: it must bind; an IPv6 address (::1 where IPv6 is off) is a bonus.
    found = dict.fromkeys((info[0], info[4][0]) for info in infos)
    addresses = sorted(found, key=lambda address: address[0] != socket.AF_INET)
    sockets: list[socket.socket] = []
    for index, (family, address) in enumerate(addresses):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            if index == 0:
                for bound in sockets:
                    bound.close()
                raise StartError(
                    f"cannot listen on {host}:{port} ({address}): {exc.strerror or exc}"
                ) from None
            continue  # a second address (::1 without IPv6): clients fall back to the first
        sockets.append(sock)
        port = int(sock.getsockname()[1])
    return sockets


class ServerThread:
    """`with ServerThread(app, host, port) as server:` serves `app` until the block ends.

    `name` is the host name in `url` (default: `host`). The sockets are bound at once, so `url`
    is known before the app is: `ServerThread(None)`, then set `app` before starting.
    """

    def __init__(
        self,
        app: ASGIApp | None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        name: str | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.name = name or host
        self._sockets = bind(host, port or 0)
        self.port = int(self._sockets[0].getsockname()[1])
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, name=f"server-{self.port}", daemon=True)
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.name}:{self.port}"

    def _run(self) -> None:
        assert self._server is not None
        try:
            asyncio.run(self._server.serve(sockets=self._sockets))
        except BaseException as exc:  # reported to the thread that waits for start-up
            self._error = exc

    def start(self, timeout: float = 20.0) -> ServerThread:
        if self.app is None:
            raise StartError(f"server on {self.url} has no app to serve")
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            server_header=False,
        )
        self._server = server = uvicorn.Server(config)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if self._error is not None or not self._thread.is_alive():
                self._close_sockets()
                raise StartError(f"server on {self.url} failed to start") from self._error
            if time.monotonic() > deadline:
                raise StartError(f"server on {self.url} did not start in {timeout} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=20)
        self._close_sockets()

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
