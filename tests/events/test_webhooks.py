"""Sending and receiving one event: signed by linker, verified by the receiver with the
`standardwebhooks` library itself and with `linker.client.EventReceiver`."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator

import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from linker.client.events import EventReceiver, IdentityLinked, InvalidEvent, parse_event
from linker.core import events
from linker.core.identities import Identity
from linker.core.secret import Secret
from linker.ops.webhooks import ANSWER_BYTES, WebhookSender
from linker.testing import ServerThread
from linker.testing.events import EventSink

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
GITHUB = Identity("github", "42", "github")


def linked_event(audit_id: str = "a-1") -> events.Event:
    return events.linked(
        primary_user_id="google-oauth2|111", secondary=GITHUB, audit_id=audit_id, time=time.time()
    )


@pytest.fixture
def sink() -> Iterator[EventSink]:
    with EventSink(SECRET) as receiving:
        yield receiving


async def test_a_delivery_verifies_with_the_reference_library(sink: EventSink) -> None:
    sender = WebhookSender(sink.url, Secret(SECRET))
    event = linked_event()
    headers = sender.headers(event, now=time.time())
    # The receiver's own check, with no linker code at all.
    payload = Webhook(SECRET).verify(event.body(), headers)
    assert payload["type"] == "identity.linked" and payload["id"] == headers["webhook-id"]
    attempt = await sender.send(event, now=time.time())
    await sender.aclose()
    assert attempt.delivered and attempt.status == 200
    assert sink.wait_for(1) == [
        IdentityLinked(
            id=event.id,
            timestamp=events.iso_time(event.time),
            audit_id="a-1",
            primary_user_id="google-oauth2|111",
            former_user_id="github|42",
            connection="github",
            provider="github",
            provider_user_id="42",
        )
    ]


async def test_a_receiver_that_is_down_is_a_failed_attempt(sink: EventSink) -> None:
    sink.down = True
    sender = WebhookSender(sink.url, Secret(SECRET))
    attempt = await sender.send(linked_event(), now=time.time())
    await sender.aclose()
    assert (attempt.delivered, attempt.status) == (False, 503)
    assert sink.refused == 1 and sink.events == []


async def test_nothing_listening_is_a_failed_attempt_not_an_exception() -> None:
    from linker.testing import free_port

    sender = WebhookSender(f"http://127.0.0.1:{free_port()}/x", Secret(SECRET), timeout=2)
    attempt = await sender.send(linked_event(), now=time.time())
    await sender.aclose()
    assert not attempt.delivered and attempt.status is None
    assert "Error" in attempt.reason


def endpoint_app() -> Starlette:
    async def redirect(request: Request) -> Response:
        return RedirectResponse("/elsewhere", status_code=307)

    async def elsewhere(request: Request) -> Response:
        raise AssertionError("a redirect was followed")

    async def endless(request: Request) -> Response:
        async def chunks() -> object:
            for _ in range(100_000):
                yield b"x" * 1024
                # The loop's turn: once the sender hangs up, the server learns it and stops,
                # instead of writing the rest to a closed socket.
                await asyncio.sleep(0)

        return StreamingResponse(chunks(), status_code=500)  # type: ignore[arg-type]

    async def slow(request: Request) -> Response:
        await asyncio.sleep(5)
        return PlainTextResponse("late")

    return Starlette(
        routes=[
            Route("/redirect", redirect, methods=["POST"]),
            Route("/elsewhere", elsewhere, methods=["POST", "GET"]),
            Route("/endless", endless, methods=["POST"]),
            Route("/slow", slow, methods=["POST"]),
        ]
    )


async def test_a_redirect_is_not_followed_and_an_endless_answer_is_not_read() -> None:
    with ServerThread(endpoint_app()) as server:
        redirected = WebhookSender(server.url + "/redirect", Secret(SECRET))
        attempt = await redirected.send(linked_event(), now=time.time())
        await redirected.aclose()
        assert (attempt.delivered, attempt.status) == (False, 307)
        endless = WebhookSender(server.url + "/endless", Secret(SECRET))
        attempt = await endless.send(linked_event(), now=time.time())
        await endless.aclose()
        assert (attempt.delivered, attempt.status) == (False, 500)
        assert ANSWER_BYTES < 100_000 * 1024


async def test_a_slow_endpoint_is_cut_at_the_timeout() -> None:
    with ServerThread(endpoint_app()) as server:
        sender = WebhookSender(server.url + "/slow", Secret(SECRET), timeout=0.5)
        began = time.monotonic()
        attempt = await sender.send(linked_event(), now=time.time())
        await sender.aclose()
        assert not attempt.delivered and attempt.status is None
        assert time.monotonic() - began < 4


def signed(event: events.Event, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    return WebhookSender("https://app.example.com/x", Secret(secret)).headers(
        event, now=time.time() if at is None else at
    )


def test_the_receiver_refuses_what_linker_did_not_sign() -> None:
    receiver = EventReceiver(SECRET)
    event = linked_event()
    assert isinstance(receiver.verify(event.body(), signed(event)), IdentityLinked)
    other = "whsec_" + base64.b64encode(b"o" * 32).decode()
    tampered = event.body().replace(b"github|42", b"github|66")
    for body, headers in [
        (event.body(), signed(event, secret=other)),  # another secret
        (tampered, signed(event)),  # the body changed on the way
        (event.body(), signed(event, at=time.time() - 3600)),  # replayed an hour later
        (event.body(), {}),  # no headers at all
        # A byte no UTF-8 spells, as a server hands it on (a surrogate): no signature of ours.
        (event.body(), {**signed(event), "webhook-id": "evt_\udcff"}),
    ]:
        with pytest.raises(InvalidEvent) as refused:
            receiver.verify(body, headers)
        assert refused.value.code == "invalid_signature"


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"not json",
        json.dumps({"type": "identity.exploded", "data": {}}).encode(),
        json.dumps({"type": "identity.linked", "id": "e", "timestamp": "t", "data": {}}).encode(),
    ],
)
def test_a_signed_body_of_a_foreign_shape_is_an_invalid_event(body: bytes) -> None:
    with pytest.raises(InvalidEvent) as refused:
        parse_event(body)
    assert refused.value.code == "invalid_event"
