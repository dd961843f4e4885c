"""ServerGroup: several apps on real loopback sockets, started and stopped together."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from linker.demo.servers import Listener, PortInUse, ServerGroup, bind


def hello(name: str) -> Starlette:
    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello from {name}")

    return Starlette(routes=[Route("/", home)])


def broken() -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("cannot start")
        yield

    return Starlette(lifespan=lifespan)


def listener(name: str, app: Starlette) -> Listener:
    sock = bind("127.0.0.1", 0)
    return Listener(name, f"http://127.0.0.1:{sock.getsockname()[1]}", app, sock)


async def test_every_app_is_served_until_stop() -> None:
    listeners = [listener("one", hello("one")), listener("two", hello("two"))]
    group = ServerGroup(listeners)
    announced: list[bool] = []
    running = asyncio.create_task(group.run(on_ready=lambda: announced.append(True)))

    await asyncio.wait_for(group.ready.wait(), 10)
    async with httpx.AsyncClient() as client:
        texts = [(await client.get(item.url)).text for item in listeners]
    group.stop()

    assert await asyncio.wait_for(running, 10) == 0
    assert texts == ["hello from one", "hello from two"]
    assert announced == [True]
    assert all(item.sock.fileno() == -1 for item in listeners)


async def test_sigint_stops_every_server() -> None:
    group = ServerGroup([listener("one", hello("one")), listener("two", hello("two"))])
    running = asyncio.create_task(group.run())
    await asyncio.wait_for(group.ready.wait(), 10)

    signal.raise_signal(signal.SIGINT)

    assert await asyncio.wait_for(running, 10) == 0


async def test_a_server_that_cannot_start_stops_the_others() -> None:
    group = ServerGroup([listener("fine", hello("fine")), listener("broken", broken())])

    assert await asyncio.wait_for(group.run(), 10) == 1
    assert not group.ready.is_set()


def test_a_busy_port_is_reported_with_its_address() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(PortInUse, match=f"cannot listen on 127.0.0.1:{port}"):
            bind("127.0.0.1", port)
