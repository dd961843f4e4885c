"""The tenant client (aiohttp) at the byte level: framing, keep-alive, limits, TLS, the proxy,
and answers that must never reach the wrong request. A scripted loopback server writes exactly
the bytes a test gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from linker.app import create_app
from linker.tenant import http as tenant_http
from linker.tenant.http import TenantHttp, trust
from linker.tenant.transport import AnswerLost, TlsRefused, Unreached, Unsendable
from tests.support.forward_proxy import ForwardProxy
from tests.support.harness import make_settings
from tests.support.tls import self_signed
from tests.test_boundaries import imports_of

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"

Script = Callable[[int], bytes | None]
"""The bytes to answer the n-th request with (counted from 0 over all connections); None
hangs up without answering."""


@dataclass
class Scripted:
    script: Script
    url: str = ""
    connections: int = 0
    open_now: int = 0
    requests: list[bytes] = field(default_factory=list)
    close_after: set[int] = field(default_factory=set)  # answer these, then hang up
    release: asyncio.Event = field(default_factory=asyncio.Event)
    # Written after the answer, a chunk at a time, for as long as the client reads.
    stream: Callable[[int], AsyncIterator[bytes]] | None = None
    streamed: int = 0

    async def _released(self, reader: asyncio.StreamReader) -> bool:
        """Wait for `release`; False if the client closes the connection meanwhile."""
        released = asyncio.ensure_future(self.release.wait())
        hung_up = asyncio.ensure_future(reader.read(1))  # clients here never send ahead
        await asyncio.wait({released, hung_up}, return_when=asyncio.FIRST_COMPLETED)
        client_left = hung_up.done()
        for waiter in (hung_up, released):
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter  # a reader has one waiter at a time: this one must be gone
        return not client_left

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                index = len(self.requests)
                self.requests.append(head + body)
                if not await self._released(reader):
                    return  # the client hung up first
                answer = self.script(index)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
                if self.stream is not None:
                    async for chunk in self.stream(index):
                        writer.write(chunk)
                        await writer.drain()
                        self.streamed += len(chunk)
                if index in self.close_after:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


@contextlib.asynccontextmanager
async def scripted(script: Script, tls: ssl.SSLContext | None = None) -> AsyncIterator[Scripted]:
    state = Scripted(script)
    state.release.set()
    listener = await asyncio.start_server(state.serve, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    state.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    async with listener:
        yield state
        listener.close()


def always(answer: bytes) -> Script:
    return lambda _: answer


async def test_a_chunked_answer_is_joined_and_the_connection_kept() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    async with scripted(always(chunked)) as state, TenantHttp() as http:
        first = await http.request("GET", f"{state.url}/a")
        second = await http.request("GET", f"{state.url}/b")
    assert (first.content, second.content) == (b"abcde", b"abcde")
    assert state.connections == 1


async def test_an_interim_answer_is_skipped_for_the_final_one() -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\n\r\n"
    final = b"HTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\nx"
    async with scripted(always(hints + final)) as state, TenantHttp() as http:
        answer = await http.request("POST", f"{state.url}/a", json={})
    assert (answer.status_code, answer.content, "link" in answer.headers) == (201, b"x", False)


async def test_a_body_ended_by_the_connection_is_read_and_the_connection_not_reused() -> None:
    async with scripted(always(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")) as state:
        state.close_after = {0, 1}
        async with TenantHttp() as http:
            first = await http.request("GET", f"{state.url}/a")
            second = await http.request("GET", f"{state.url}/b")
    assert first.content == second.content == b"until the end"
    assert state.connections == 2


async def test_connection_close_is_honoured() -> None:
    answer = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"
    async with scripted(always(answer)) as state, TenantHttp() as http:
        await http.request("GET", f"{state.url}/a")
        await http.request("GET", f"{state.url}/b")
    assert state.connections == 2


async def test_an_idle_connection_the_server_closed_is_not_used_again() -> None:
    async with scripted(always(OK)) as state:
        state.close_after = {0}  # answered with keep-alive, then closed while idle
        async with TenantHttp() as http:
            await http.request("GET", f"{state.url}/a")
            await asyncio.sleep(0.05)  # the close reaches the client
            second = await http.request("POST", f"{state.url}/b", json={})
    assert second.content == b"ok"
    assert state.connections == 2
    assert len(state.requests) == 2


async def test_a_connection_idle_too_long_is_not_used_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tenant_http, "KEEPALIVE_SECONDS", 0.05)
    async with scripted(always(OK)) as state, TenantHttp() as http:
        await http.request("GET", f"{state.url}/a")
        await asyncio.sleep(0.3)
        await http.request("GET", f"{state.url}/b")
    assert state.connections == 2


async def test_a_read_is_sent_again_when_a_reused_connection_was_closed_under_it() -> None:
    # The server takes the second request on the kept connection, then closes it unanswered:
    # what a client meets when the server's idle timeout ends as the request goes out.
    async with scripted(lambda n: None if n == 1 else OK) as state, TenantHttp() as http:
        await http.request("GET", f"{state.url}/a")
        again = await http.request("GET", f"{state.url}/jwks")
    assert again.content == b"ok"
    assert [r.split(b"\r\n", 1)[0] for r in state.requests] == [
        b"GET /a HTTP/1.1",
        b"GET /jwks HTTP/1.1",
        b"GET /jwks HTTP/1.1",
    ]


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE", "PUT"])
async def test_a_write_is_never_sent_again_on_a_closed_reused_connection(method: str) -> None:
    async with scripted(lambda n: None if n == 1 else OK) as state, TenantHttp() as http:
        await http.request("GET", f"{state.url}/a")
        with pytest.raises(AnswerLost):
            await http.request(method, f"{state.url}/api/v2/users/u1/identities", json={})
    assert len(state.requests) == 2  # the write once: the caller decides what happens next


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",  # smuggling shape
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nok",  # cut short
    ],
)
async def test_a_malformed_answer_is_a_lost_answer(answer: bytes) -> None:
    async with scripted(always(answer)) as state:
        state.close_after = {0}
        async with TenantHttp() as http:
            with pytest.raises(AnswerLost):
                await http.request("GET", f"{state.url}/a")


async def test_content_length_and_transfer_encoding_together_never_mislead() -> None:
    # RFC 9112 6.3: chunked wins, and the connection must not be trusted for another answer.
    both = (
        b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\n" + OK.replace(b"ok", b"no")
    )
    async with scripted(lambda n: both if n == 0 else OK) as state, TenantHttp() as http:
        try:
            first: bytes | None = (await http.request("GET", f"{state.url}/a")).content
        except AnswerLost:
            first = None  # refused outright: as safe
        second = await http.request("GET", f"{state.url}/b")
    assert first in (b"ok", None)
    assert second.content == b"ok"  # never the smuggled "no"


async def test_extra_bytes_after_an_answer_never_reach_the_next_request() -> None:
    smuggled = OK + OK.replace(b"ok", b"no")
    async with scripted(lambda n: smuggled if n == 0 else OK) as state, TenantHttp() as http:
        first = await http.request("GET", f"{state.url}/a")
        second = await http.request("GET", f"{state.url}/b")
    assert (first.content, second.content) == (b"ok", b"ok")  # never the smuggled "no"


async def test_a_late_answer_never_reaches_the_next_request() -> None:
    async with scripted(
        lambda n: f"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n{n}".encode()
    ) as state:
        state.release.clear()
        async with TenantHttp() as http:
            with pytest.raises(AnswerLost):
                await http.request("GET", f"{state.url}/slow", limit=0.1)
            cancelled = asyncio.create_task(http.request("GET", f"{state.url}/cancelled"))
            await asyncio.sleep(0.05)
            cancelled.cancel()
            with pytest.raises(asyncio.CancelledError):
                await cancelled
            await asyncio.sleep(0.05)
            assert state.open_now == 0  # both connections closed, with their answers unread
            state.release.set()
            third = await http.request("GET", f"{state.url}/third")
    assert third.content == b"2"  # its own answer, not the timed-out or cancelled ones'
    assert state.connections == 3


async def test_a_trickling_body_ends_at_the_deadline() -> None:
    async def trickle(_: int) -> AsyncIterator[bytes]:
        for _ in range(200):  # 20 s at most, far past the deadline
            await asyncio.sleep(0.1)
            yield b"x"

    head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"
    async with scripted(always(head)) as state:
        state.stream = trickle
        async with TenantHttp() as http:
            began = time.monotonic()
            with pytest.raises(AnswerLost):
                await http.request("GET", f"{state.url}/a", limit=0.5)
            took = time.monotonic() - began
    assert 0.4 < took < 2.0
    assert state.streamed < 20


async def test_an_endless_header_fails_at_once_with_bounded_memory() -> None:
    sent_mib = 256

    async def endless(_: int) -> AsyncIterator[bytes]:
        for _ in range(sent_mib * 16):
            yield b"a" * 65536

    async with scripted(always(b"HTTP/1.1 200 OK\r\nx-endless: ")) as state:
        state.stream = endless
        async with TenantHttp() as http:
            with pytest.raises(AnswerLost):
                await http.request("GET", f"{state.url}/a", limit=30)
    # The client hung up after the line limit, long before the 256 MiB were written (the
    # socket buffers between the two hold a few MiB at most).
    assert state.streamed < 32 * 1024 * 1024


async def test_a_tenant_with_an_endless_header_is_not_ready_within_the_budget() -> None:
    async def endless(_: int) -> AsyncIterator[bytes]:
        for _ in range(256 * 16):
            yield b"a" * 65536

    async with scripted(always(b"HTTP/1.1 200 OK\r\nx-endless: ")) as state:
        state.stream = endless
        domain = state.url.removeprefix("http://")
        settings = make_settings(
            LINKER_AUTH0_DOMAIN=domain, LINKER_TENANT_SCHEME="http", LINKER_UPSTREAM_BUDGET="2"
        )
        app = create_app(settings)  # the service's own client
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
                began = time.monotonic()
                ready = await client.get("/readyz")
                took = time.monotonic() - began
    assert ready.status_code == 503
    assert took < 4.0
    assert state.streamed < 32 * 1024 * 1024


async def test_oversized_answers_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tenant_http, "MAX_BODY_BYTES", 10)
    body = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n" + b"x" * 11
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nb\r\n" + b"x" * 11
    head = b"HTTP/1.1 200 OK\r\nx-big: " + b"y" * 9000 + b"\r\ncontent-length: 0\r\n\r\n"
    bomb = zlib.compress(b"z" * 100_000)
    inflating = b"HTTP/1.1 200 OK\r\ncontent-encoding: deflate\r\ncontent-length: %d\r\n\r\n" % (
        len(bomb)
    )
    for answer in (body, chunked + b"\r\n0\r\n\r\n", head, inflating + bomb):
        async with scripted(always(answer)) as state, TenantHttp() as http:
            with pytest.raises(AnswerLost):
                await http.request("GET", f"{state.url}/a")


async def test_an_unknown_content_coding_is_not_decoded_as_another() -> None:
    answer = b"HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: 2\r\n\r\nok"
    async with scripted(always(answer)) as state, TenantHttp() as http:
        try:
            content: bytes | None = (await http.request("GET", f"{state.url}/a")).content
        except AnswerLost:
            content = None
    assert content in (None, b"ok")  # refused, or left as it came: never misread


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/a", {"X-Id": "1\r\nX-Injected: yes"}),
        ("/a", {"X-Id": "1\nX-Injected: yes"}),
    ],
)
async def test_a_header_that_could_split_the_request_is_never_sent(
    path: str, headers: dict[str, str]
) -> None:
    async with scripted(always(OK)) as state, TenantHttp() as http:
        with pytest.raises(Unsendable):
            await http.request("GET", f"{state.url}{path}", headers=headers)
    assert state.requests == []


@pytest.mark.parametrize("path", ["/a HTTP/1.1\r\nX-Injected: yes\r\n\r\nGET /b", "/a\nb", "/a b"])
async def test_a_path_that_could_split_the_request_is_sent_escaped_or_not_at_all(
    path: str,
) -> None:
    async with scripted(always(OK)) as state, TenantHttp() as http:
        with contextlib.suppress(Unsendable):
            await http.request("GET", f"{state.url}{path}")
    for request in state.requests:
        line, _, rest = request.partition(b"\r\n")
        assert b" " not in line.removeprefix(b"GET ").removesuffix(b" HTTP/1.1")
        assert b"X-Injected" not in rest


async def test_the_request_is_sent_as_written() -> None:
    async with scripted(always(OK)) as state, TenantHttp() as http:
        await http.request(
            "POST", f"{state.url}/oauth/token?x=1#fragment", headers={"Authorization": "Bearer t"}
        )
        await http.request("GET", f"{state.url}?q=1")
    first, second = (request.split(b"\r\n") for request in state.requests)
    host = f"Host: 127.0.0.1:{state.url.rpartition(':')[2]}".encode()
    assert first[0] == b"POST /oauth/token?x=1 HTTP/1.1"
    assert {host, b"Authorization: Bearer t", b"Content-Length: 0"} <= set(first)
    assert second[0] == b"GET /?q=1 HTTP/1.1"
    assert not any(line.lower().startswith(b"cookie") for line in first + second)


@pytest.mark.parametrize("url", ["ftp://tenant.example/x", "tenant.example/x", "http://h:99999/"])
async def test_a_url_it_cannot_send_to_is_refused(url: str) -> None:
    async with TenantHttp() as http:
        with pytest.raises(Unsendable):
            await http.request("GET", url)


async def test_a_refused_connection_is_unreached() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    async with TenantHttp() as http:
        with pytest.raises(Unreached):
            await http.request("POST", f"http://127.0.0.1:{port}/oauth/token", form={})


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    cert_file, key_file = self_signed(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert_file, key_file)
    return cert_file, server_side


async def test_tls_is_verified(certificate: tuple[Path, ssl.SSLContext]) -> None:
    cert_file, server_side = certificate
    async with scripted(always(OK), tls=server_side) as state:
        port = state.url.rpartition(":")[2]
        async with TenantHttp(ca_file=cert_file) as http:
            answer = await http.request("GET", f"https://localhost:{port}/a")
        assert answer.content == b"ok"
        async with TenantHttp() as http:  # the system's trust store: a self-signed one fails
            with pytest.raises(TlsRefused, match="certificate"):
                await http.request("GET", f"https://localhost:{port}/a")
        async with TenantHttp(ca_file=cert_file) as http:  # the name must match too
            with pytest.raises(TlsRefused, match=r"127\.0\.0\.1"):
                await http.request("GET", f"https://127.0.0.1:{port}/a")
    assert len(state.requests) == 1


async def test_ssl_cert_file_replaces_the_system_store(
    certificate: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert_file, server_side = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    async with scripted(always(OK), tls=server_side) as state, TenantHttp() as http:
        port = state.url.rpartition(":")[2]
        answer = await http.request("GET", f"https://localhost:{port}/a")
    assert answer.content == b"ok"


def test_verification_cannot_be_turned_off(certificate: tuple[Path, ssl.SSLContext]) -> None:
    context = trust(certificate[0])
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)


async def test_https_goes_through_the_proxy_named_in_linker_proxy_url(
    certificate: tuple[Path, ssl.SSLContext],
) -> None:
    cert_file, server_side = certificate
    proxy = ForwardProxy()
    async with scripted(always(OK), tls=server_side) as state, proxy.running():
        port = state.url.rpartition(":")[2]
        async with TenantHttp(proxy_url=proxy.url, ca_file=cert_file) as http:
            assert http.route(f"https://localhost:{port}/a").describe() == (
                f"through proxy {proxy.url} (from LINKER_PROXY_URL)"
            )
            first = await http.request("GET", f"https://localhost:{port}/a")
            second = await http.request("POST", f"https://localhost:{port}/b", json={})
    assert first.content == second.content == b"ok"
    assert proxy.asked == [f"CONNECT localhost:{port}"]  # one tunnel, kept
    assert len(state.requests) == 2


async def test_the_environment_names_the_proxy_and_no_proxy_bypasses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = ForwardProxy()
    async with scripted(always(OK)) as state, proxy.running():
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with TenantHttp() as http:
            await http.request("GET", f"{state.url}/through")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with TenantHttp() as http:
            assert http.route(state.url).describe() == "directly (NO_PROXY names it)"
            await http.request("GET", f"{state.url}/direct")
    assert proxy.asked == [f"GET {state.url}/through"]
    assert len(state.requests) == 2


async def test_a_proxy_that_refuses_the_tunnel_is_unreached(
    certificate: tuple[Path, ssl.SSLContext],
) -> None:
    proxy = ForwardProxy(refuse=True)
    async with proxy.running(), TenantHttp(proxy_url=proxy.url) as http:
        with pytest.raises(Unreached, match="proxy"):
            await http.request("POST", "https://tenant.example/oauth/token", form={})


def test_no_module_of_the_service_parses_http_itself_or_calls_through_httpx() -> None:
    root = Path(tenant_http.__file__).parent
    elsewhere = {"client", "demo", "devtenant", "testing"}  # the SDK and the dev distribution
    offenders = {
        f"{path.relative_to(root)}: {module}"
        for path in root.rglob("*.py")
        if not elsewhere & set(path.relative_to(root).parts[:1])
        for module in imports_of(path.read_text(encoding="utf-8"))
        if module.split(".")[0] in {"httpx", "httpcore", "httptools", "h11"}
    }
    assert offenders == set()
