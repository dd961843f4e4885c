"""The HTTP/1.1 client at the byte level: framing, keep-alive, limits, and answers that must
never reach the wrong request. A scripted loopback server writes exactly the bytes a test gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ssl
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from linker import http1
from linker.http1 import Http1Upstream

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
                if index in self.close_after:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


async def started(script: Script) -> tuple[Scripted, asyncio.Server]:
    state = Scripted(script)
    state.release.set()
    listener = await asyncio.start_server(state.serve, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    return state, listener


def always(answer: bytes) -> Script:
    return lambda _: answer


async def test_a_chunked_answer_is_joined() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    state, listener = await started(always(chunked))
    async with listener, Http1Upstream() as http:
        first = await http.request("GET", f"{state.url}/a")
        second = await http.request("GET", f"{state.url}/b")
    assert (first.content, second.content) == (b"abcde", b"abcde")
    assert state.connections == 1


async def test_an_interim_answer_is_skipped_for_the_final_one() -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\n\r\n"
    state, listener = await started(
        always(hints + b"HTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\nx")
    )
    async with listener, Http1Upstream() as http:
        answer = await http.request("POST", f"{state.url}/a", json={})
    assert (answer.status_code, answer.content, "link" in answer.headers) == (201, b"x", False)


async def test_a_body_ended_by_the_connection_is_read_and_the_connection_not_reused() -> None:
    state, listener = await started(always(b"HTTP/1.1 200 OK\r\n\r\nuntil the end"))
    state.close_after = {0, 1}
    async with listener, Http1Upstream() as http:
        first = await http.request("GET", f"{state.url}/a")
        second = await http.request("GET", f"{state.url}/b")
    assert first.content == second.content == b"until the end"
    assert state.connections == 2


async def test_connection_close_is_honoured() -> None:
    state, listener = await started(
        always(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
    )
    async with listener, Http1Upstream() as http:
        await http.request("GET", f"{state.url}/a")
        await http.request("GET", f"{state.url}/b")
    assert state.connections == 2


async def test_an_idle_connection_the_server_closed_is_not_used_again() -> None:
    state, listener = await started(always(OK))
    state.close_after = {0}  # answered with keep-alive, then closed while idle
    async with listener, Http1Upstream() as http:
        await http.request("GET", f"{state.url}/a")
        await asyncio.sleep(0.05)  # the close reaches the client
        second = await http.request("POST", f"{state.url}/b", json={})
    assert second.content == b"ok"
    assert state.connections == 2


async def test_a_connection_idle_too_long_is_not_used_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state, listener = await started(always(OK))
    async with listener, Http1Upstream() as http:
        await http.request("GET", f"{state.url}/a")
        monkeypatch.setattr(http1, "KEEPALIVE_SECONDS", 0.0)
        await http.request("GET", f"{state.url}/b")
    assert state.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",  # smuggling shape
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    ],
)
async def test_a_malformed_answer_is_a_protocol_error(answer: bytes) -> None:
    state, listener = await started(always(answer))
    async with listener, Http1Upstream() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.request("GET", f"{state.url}/a")


async def test_a_second_answer_to_one_request_poisons_the_connection() -> None:
    state, listener = await started(lambda n: OK + OK.replace(b"ok", b"no") if n == 0 else OK)
    async with listener, Http1Upstream() as http:
        first = await http.request("GET", f"{state.url}/a")
        second = await http.request("GET", f"{state.url}/b")
    assert (first.content, second.content) == (b"ok", b"ok")  # never the smuggled "no"
    assert state.connections == 2


async def test_a_late_answer_never_reaches_the_next_request() -> None:
    state, listener = await started(
        lambda n: f"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n{n}".encode()
    )
    state.release.clear()
    async with listener, Http1Upstream() as http:
        with pytest.raises(httpx.ReadTimeout):
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


async def test_oversized_answers_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "MAX_BODY_BYTES", 10)
    monkeypatch.setattr(http1, "MAX_HEAD_BYTES", 100)
    body = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n" + b"x" * 11
    head = b"HTTP/1.1 200 OK\r\nx-big: " + b"y" * 100 + b"\r\ncontent-length: 0\r\n\r\n"
    bomb = zlib.compress(b"z" * 1000)
    gzipped = b"HTTP/1.1 200 OK\r\ncontent-encoding: deflate\r\ncontent-length: %d\r\n\r\n" % len(
        bomb
    )
    for answer in (body, head, gzipped + bomb):
        state, listener = await started(always(answer))
        async with listener, Http1Upstream() as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.request("GET", f"{state.url}/a")


async def test_an_unknown_content_coding_is_refused() -> None:
    state, listener = await started(
        always(b"HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: 2\r\n\r\nok")
    )
    async with listener, Http1Upstream() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.request("GET", f"{state.url}/a")


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/a", {"X-Id": "1\r\nX-Injected: yes"}),
        ("/a", {"Bad Name": "1"}),
        ("/a HTTP/1.1\r\nX-Injected: yes\r\n\r\nGET /b", {}),
        ("/a\nb", {}),
    ],
)
async def test_nothing_is_sent_that_could_split_the_request(
    path: str, headers: dict[str, str]
) -> None:
    state, listener = await started(always(OK))
    async with listener, Http1Upstream() as http:
        with pytest.raises(httpx.LocalProtocolError):
            await http.request("GET", f"{state.url}{path}", headers=headers)
    assert state.requests == []


async def test_the_request_is_sent_as_written() -> None:
    state, listener = await started(always(OK))
    async with listener, Http1Upstream() as http:
        await http.request(
            "POST", f"{state.url}/oauth/token?x=1#fragment", headers={"Authorization": "Bearer t"}
        )
        await http.request("GET", f"{state.url}?q=1")
    host = f"Host: 127.0.0.1:{state.url.rpartition(':')[2]}\r\nAccept-Encoding: identity\r\n"
    assert state.requests == [
        f"POST /oauth/token?x=1 HTTP/1.1\r\n{host}"
        "Authorization: Bearer t\r\nContent-Length: 0\r\n\r\n".encode(),
        f"GET /?q=1 HTTP/1.1\r\n{host}\r\n".encode(),
    ]


@pytest.mark.parametrize(
    ("url", "origin", "host"),
    [
        ("https://tenant.example/x", ("https", "tenant.example", 443), "tenant.example"),
        ("HTTP://Tenant.Example:8080/x", ("http", "tenant.example", 8080), "tenant.example:8080"),
        ("http://[::1]:9000/x", ("http", "::1", 9000), "[::1]:9000"),
        ("https://tenant.example:443?x", ("https", "tenant.example", 443), "tenant.example"),
    ],
)
def test_origin_and_host_of_a_url(url: str, origin: http1.Origin, host: str) -> None:
    assert http1._parse_url(url)[:2] == (origin, host)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://tenant.example/x",
        "tenant.example/x",
        "https://user@tenant.example/",
        "http://h:99999/",
    ],
)
async def test_a_url_it_cannot_send_to_is_refused(url: str) -> None:
    async with Http1Upstream() as http:
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.request("GET", url)


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_tls_is_verified(tmp_path: Path) -> None:
    cert_file, key_file = _certificate(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert_file, key_file)
    state = Scripted(always(OK))
    state.release.set()
    listener = await asyncio.start_server(state.serve, "127.0.0.1", 0, ssl=server_side)
    port = listener.sockets[0].getsockname()[1]
    trusting = ssl.create_default_context(cafile=str(cert_file))
    async with listener:
        async with Http1Upstream(tls=trusting) as http:
            answer = await http.request("GET", f"https://localhost:{port}/a")
        assert answer.content == b"ok"
        async with (
            Http1Upstream() as http
        ):  # the system's trust store: a self-signed certificate fails
            with pytest.raises(httpx.ConnectError):
                await http.request("GET", f"https://localhost:{port}/a")
        async with Http1Upstream(tls=trusting) as http:  # the name must match too
            with pytest.raises(httpx.ConnectError):
                await http.request("GET", f"https://127.0.0.1:{port}/a")
    assert len(state.requests) == 1
