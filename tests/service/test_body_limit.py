"""Bodies are bounded before they are read: a declared length above the route's cap is
answered 413 unread, a chunked body is cut at the cap, and a route that takes no body takes
none. Sent in-process as the server would pass them on (one ASGI message per chunk)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from starlette.types import Message, Scope

from linker.web.body_limit import MAX_COMMIT_BODY
from tests.support.harness import Harness

MIB = 1024 * 1024


class Counted:
    """A lazily made body of `total` bytes that counts how much was taken from it."""

    def __init__(self, total: int, piece: int = 64 * 1024) -> None:
        self.total, self.piece, self.taken = total, piece, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.taken < self.total:
            n = min(self.piece, self.total - self.taken)
            self.taken += n
            yield b"x" * n


async def test_a_declared_length_above_the_cap_is_answered_413_unread(harness: Harness) -> None:
    body = Counted(64 * MIB)
    response = await harness.client.post(
        "/link/commit",
        content=body,
        headers={"content-length": str(body.total), "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"
    assert response.headers["connection"] == "close"
    assert len(response.headers["x-request-id"]) == 32  # a refusal can be followed in the logs
    assert body.taken <= 64 * 1024  # the client's first piece at most: nothing was read


async def test_a_chunked_body_is_cut_at_the_cap(harness: Harness) -> None:
    body = Counted(64 * MIB)
    response = await harness.client.post("/link/commit", content=body)
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"
    # Read in pieces and cut: at most the cap and the piece that passed it.
    assert body.taken <= MAX_COMMIT_BODY + body.piece
    assert sum(harness.tenant.calls.values()) == 0  # nothing reached the tenant


async def test_a_chunked_body_within_the_cap_is_read(harness: Harness) -> None:
    payload = json.dumps({"commit_token": "not-a-token"}).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 5):
            yield payload[i : i + 5]

    response = await harness.client.post("/link/commit", content=pieces())
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_commit_token"


async def test_a_body_of_exactly_the_cap_is_read(harness: Harness) -> None:
    payload = b" " * (MAX_COMMIT_BODY - 2) + b"{}"
    response = await harness.client.post("/link/commit", content=payload)
    assert response.status_code == 401
    response = await harness.client.post("/link/commit", content=payload + b" ")
    assert response.status_code == 413


@pytest.mark.parametrize("path", ["/link/start", "/link/callback", "/healthz", "/metrics"])
async def test_routes_that_take_no_body_refuse_one(harness: Harness, path: str) -> None:
    declared = await harness.client.request(
        "GET", path, content=b"x" * 10, headers={"content-length": "10"}
    )
    assert declared.status_code == 413
    chunked = Counted(64 * MIB)
    streamed = await harness.client.request("GET", path, content=chunked)
    assert streamed.status_code == 413
    assert chunked.taken <= chunked.piece
    assert (await harness.client.get(path)).status_code != 413


def http2_scope(path: str, *headers: tuple[bytes, bytes]) -> Scope:
    """A POST as an HTTP/2 server hands it over: no Content-Length, no Transfer-Encoding."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "2",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"linker.test"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("linker.test", 443),
    }


@pytest.mark.parametrize("path", ["/link/commit", "/link/confirm"])
async def test_a_body_that_declares_no_length_is_cut_at_the_cap(
    harness: Harness, path: str
) -> None:
    pieces = 160  # 10 MiB offered, 64 KiB at a time
    taken = 0

    async def receive() -> Message:
        nonlocal taken
        taken += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": taken < pieces}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await harness.app(http2_scope(path), receive, send)
    assert sent[0]["status"] == 413
    assert taken * 65536 <= MAX_COMMIT_BODY + 65536


@pytest.mark.parametrize("path", ["/link/commit", "/link/confirm", "/link/suggest/choose"])
async def test_a_client_gone_before_its_body_is_whole_gets_no_answer_and_no_error(
    harness: Harness, path: str
) -> None:
    """Content-Length 100, two bytes, then the client leaves: nothing to answer, no
    traceback in the log (anyone could fill it so)."""
    part: Message = {"type": "http.request", "body": b"{}", "more_body": True}
    messages = iter([part, {"type": "http.disconnect"}])

    async def receive() -> Message:
        return next(messages)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await harness.app(http2_scope(path, (b"content-length", b"100")), receive, send)
    assert sent == []
