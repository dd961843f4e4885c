"""A forward proxy on loopback, as an enterprise network puts in front of the internet.

It serves `CONNECT host:port` (a tunnel, for https) and absolute-form requests
(`GET http://host:port/path`, for http), and records what it was asked for, so a test can show
that linker's calls went through it. One upstream connection per client connection; after
the first request the bytes are relayed as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class ForwardProxy:
    url: str = ""
    asked: list[str] = field(default_factory=list)  # "CONNECT host:port" or "GET http://..."
    refuse: bool = False  # answer every CONNECT with 403

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            self.asked.append(f"{method} {target}")
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                if self.refuse:
                    writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                    return
                up_reader, upstream = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                parts = urlsplit(target)
                assert parts.hostname is not None and parts.port is not None
                up_reader, upstream = await asyncio.open_connection(parts.hostname, parts.port)
                upstream.write(head)
            await asyncio.gather(_relay(reader, upstream), _relay(up_reader, writer))
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            for side in (upstream, writer):
                if side is not None:
                    side.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ForwardProxy]:
        """Serving on a free loopback port in the running event loop."""
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with server:
            yield self
            server.close()

    @contextlib.contextmanager
    def in_thread(self) -> Iterator[ForwardProxy]:
        """Serving from a thread of its own, for tests that run a server process."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        stop: asyncio.Event | None = None

        async def main() -> None:
            nonlocal stop
            stop = asyncio.Event()
            async with self.running():
                ready.set()
                await stop.wait()

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        ready.wait(10)
        try:
            yield self
        finally:
            assert stop is not None
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
            loop.close()


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
