"""The upstream client over a real loopback server: the wire, the pool cap, the error kinds."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from linker.core.backoff import Budget
from linker.core.errors import Code, LinkError
from linker.tenant.http import TenantHttp
from linker.tenant.transport import (
    POOL_WAITERS_PER_CONNECTION,
    Answer,
    AnswerLost,
    PoolBusy,
    Reply,
    Unreached,
    Unsendable,
)
from linker.tenant.upstream import Retrier
from tests.support.httpx_upstream import HttpxUpstream


@dataclass
class Server:
    """A tiny HTTP/1.1 server: answers each request once `release` is set (set by default)."""

    url: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    connections: int = 0
    open_now: int = 0
    most_open: int = 0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    gzip_body: bool = False
    set_cookie: bool = False
    hang_up: bool = False
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def received(self, count: int) -> None:
        async with self.arrived:
            await self.arrived.wait_for(lambda: len(self.requests) >= count)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *lines = head.decode().split("\r\n")
                pairs = (x.partition(":") for x in lines if x)
                headers = {k.strip().lower(): v.strip() for k, _, v in pairs}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                async with self.arrived:
                    self.requests.append((line, headers, body))
                    self.arrived.notify_all()
                await self.release.wait()
                if self.hang_up:
                    return
                payload, extra = b'{"ok": true}', b""
                if self.gzip_body:
                    payload, extra = gzip.compress(payload), b"content-encoding: gzip\r\n"
                if self.set_cookie:
                    extra += b"set-cookie: did=s%3Av0%3Aabc; Path=/; HttpOnly\r\n"
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + extra
                    + f"content-length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    state.release.set()
    listener = await asyncio.start_server(state.serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}"
    async with listener:
        yield state
        listener.close()


async def test_requests_go_over_the_wire_and_connections_are_kept(server: Server) -> None:
    async with TenantHttp() as http:
        first = await http.request("POST", f"{server.url}/oauth/token", form={"grant_type": "x y"})
        second = await http.request("GET", f"{server.url}/.well-known/jwks.json?a=1")
        third = await http.request(
            "PATCH", f"{server.url}/api/v2/users/u1", json={"user_metadata": {"é": 1}}
        )
    assert (first.status_code, json.loads(first.content)) == (200, {"ok": True})
    assert first.headers["Content-Type"] == "application/json"  # any case
    assert json.loads(second.content) == {"ok": True}
    line, headers, body = server.requests[0]
    assert line == "POST /oauth/token HTTP/1.1"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert body == b"grant_type=x+y"
    assert server.requests[1][0] == "GET /.well-known/jwks.json?a=1 HTTP/1.1"
    line, headers, body = server.requests[2]
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"user_metadata": {"é": 1}}
    assert third.status_code == 200
    assert server.connections == 1  # kept alive between the three


async def test_a_cookie_the_tenant_sets_is_never_sent_back(server: Server) -> None:
    server.set_cookie = True
    async with TenantHttp() as http:
        first = await http.request("POST", f"{server.url}/oauth/token", form={"grant_type": "x"})
        await http.request("GET", f"{server.url}/api/v2/users/u1")
    assert "did=" in first.headers["set-cookie"]
    assert "cookie" not in server.requests[1][1]


async def test_a_compressed_answer_is_decoded_once(server: Server) -> None:
    server.gzip_body = True
    async with TenantHttp() as http:
        answer = await http.request("GET", f"{server.url}/userinfo")
    assert json.loads(answer.content) == {"ok": True}


async def test_the_pool_cap_answers_pool_timeout_at_once_and_the_others_finish(
    server: Server,
) -> None:
    server.release.clear()
    async with TenantHttp(connections=2, pool_wait=0.2) as http:
        held = [asyncio.create_task(http.request("GET", f"{server.url}/slow")) for _ in range(2)]
        await server.received(2)
        began = time.monotonic()
        with pytest.raises(PoolBusy):
            await http.request("GET", f"{server.url}/one-too-many", limit=5.0)
        assert time.monotonic() - began < 1.0  # the pool's own wait, not the request's 5 s
        server.release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
    assert server.most_open == 2
    assert [line for line, _, _ in server.requests] == ["GET /slow HTTP/1.1"] * 2


async def test_a_pool_timeout_is_never_retried(server: Server) -> None:
    server.release.clear()
    outcomes: list[str] = []
    retrier = Retrier(on_attempt=outcomes.append)
    async with TenantHttp(connections=1, pool_wait=0.1) as http:
        held = asyncio.create_task(http.request("GET", f"{server.url}/slow"))
        await server.received(1)

        async def attempt(limit: float) -> Answer:
            return await http.request("GET", f"{server.url}/queued", limit=limit)

        with pytest.raises(LinkError) as refused:
            await retrier.send(attempt, Budget(time.time() + 10))
        server.release.set()
        await held
    assert refused.value.code is Code.UPSTREAM_UNAVAILABLE
    assert outcomes == ["pool_timeout"]
    assert len(server.requests) == 1  # the queued request never reached the tenant


async def test_a_busy_pool_is_waited_for_within_half_the_requests_own_limit(
    server: Server,
) -> None:
    server.release.clear()
    async with TenantHttp(connections=1) as http:
        held = asyncio.create_task(http.request("GET", f"{server.url}/slow"))
        await server.received(1)
        # Freed after 1.2 s: longer than a fixed one-second wait, within half of a 6 s limit.
        asyncio.get_running_loop().call_later(1.2, server.release.set)
        waited = await http.request("GET", f"{server.url}/waited", limit=6.0)
        assert waited.status_code == 200
        await held

        server.release.clear()
        held = asyncio.create_task(http.request("GET", f"{server.url}/slow-again"))
        await server.received(3)
        # Freed after 0.3 s: within a 0.4 s limit, but not within its half.
        asyncio.get_running_loop().call_later(0.3, server.release.set)
        began = time.monotonic()
        with pytest.raises(PoolBusy):
            await http.request("POST", f"{server.url}/too-late", json={"x": 1}, limit=0.4)
        assert time.monotonic() - began >= 0.2
        await held
    paths = [line.split()[1] for line, _, _ in server.requests]
    assert paths == ["/slow", "/waited", "/slow-again"]  # the late write was never sent


async def test_the_queue_for_a_connection_is_bounded(server: Server) -> None:
    server.release.clear()
    async with TenantHttp(connections=1) as http:
        assert http.max_waiting == POOL_WAITERS_PER_CONNECTION
        held = asyncio.create_task(http.request("GET", f"{server.url}/slow"))
        await server.received(1)
        queued = [
            asyncio.create_task(http.request("GET", f"{server.url}/queued", limit=10.0))
            for _ in range(http.max_waiting)
        ]
        await asyncio.sleep(0.05)  # each is waiting now
        began = time.monotonic()
        with pytest.raises(PoolBusy):
            await http.request("GET", f"{server.url}/one-too-many", limit=10.0)
        assert time.monotonic() - began < 1.0  # refused at once, not after its 5 s of waiting
        server.release.set()
        answers = await asyncio.gather(held, *queued)
    assert [a.status_code for a in answers] == [200] * (1 + POOL_WAITERS_PER_CONNECTION)
    assert "GET /one-too-many HTTP/1.1" not in [line for line, _, _ in server.requests]


async def test_a_refused_connection_is_a_connect_error() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    async with TenantHttp() as http:
        with pytest.raises(Unreached):
            await http.request("GET", f"http://127.0.0.1:{port}/")


async def test_a_dropped_answer_is_not_a_connect_error(server: Server) -> None:
    server.hang_up = True
    async with TenantHttp() as http:
        with pytest.raises(AnswerLost):  # not `Unreached`: the write may have happened
            await http.request("POST", f"{server.url}/api/v2/users/x/identities", json={})
    assert len(server.requests) == 1  # and it is never sent twice


async def test_a_slow_answer_is_a_read_timeout(server: Server) -> None:
    server.release.clear()
    async with TenantHttp() as http:
        with pytest.raises(AnswerLost):
            await http.request("GET", f"{server.url}/slow", limit=0.2)
        server.release.set()


async def test_the_test_adapter_sends_the_same_request(server: Server) -> None:
    async with httpx.AsyncClient() as client:
        http = HttpxUpstream(client)
        answer: Reply = await http.request(
            "POST", f"{server.url}/oauth/token", form={"code": "a&b"}
        )
        await http.aclose()  # the client is its owner's: still usable
        again = await http.request("PATCH", f"{server.url}/api/v2/users/u1", json={"a": None})
    assert answer.status_code == again.status_code == 200
    (_, form_headers, form), (_, json_headers, body) = (r for r in server.requests)
    assert (form_headers["content-type"], form) == (
        "application/x-www-form-urlencoded",
        b"code=a%26b",
    )
    assert (json_headers["content-type"], json.loads(body)) == ("application/json", {"a": None})


async def test_a_request_that_cannot_be_sent_is_not_tried_again() -> None:
    outcomes: list[str] = []
    tries = 0

    async def attempt(limit: float) -> Answer:
        nonlocal tries
        tries += 1
        raise Unsendable("a header with a line break")

    with pytest.raises(LinkError) as refused:
        await Retrier(on_attempt=outcomes.append).send(attempt, Budget(time.time() + 10))
    assert refused.value.code is Code.UPSTREAM_UNAVAILABLE
    assert (tries, outcomes) == (1, ["unsendable"])
