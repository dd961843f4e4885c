"""An event sink for test suites: a receiving endpoint on loopback that verifies every delivery
with `linker.client.EventReceiver` and keeps what arrived, for a test to assert on.

    with EventSink(secret) as sink:          # give linker LINKER_EVENTS_URL=sink.url
        ...                                  # link, unlink
        linked = sink.wait_for(1)[0]         # an IdentityLinked

`sink.down = True` makes it answer 503 (a receiver that is down), `sink.refused` counts the
deliveries it turned away, and `sink.received` lists every delivery, duplicates included.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from linker.client.events import EventReceiver, InvalidEvent, LinkerEvent
from linker.testing.servers import ServerThread

PATH = "/linker-events"


class EventSink:
    """Receives linker's events; `events` holds each event once, in the order it arrived."""

    def __init__(self, secret: str, *, host: str = "127.0.0.1") -> None:
        self._receiver = EventReceiver(secret)
        self._lock = threading.Lock()
        self.received: list[LinkerEvent] = []
        self.invalid = 0
        self.refused = 0
        self.down = False
        app = Starlette(routes=[Route(PATH, self._receive, methods=["POST"])])
        self._server = ServerThread(app, host=host)

    @property
    def url(self) -> str:
        return self._server.url + PATH

    @property
    def events(self) -> list[LinkerEvent]:
        """Each event once (deliveries come at least once), in the order of first arrival."""
        with self._lock:
            seen: dict[str, LinkerEvent] = {}
            for event in self.received:
                seen.setdefault(event.id, event)
            return list(seen.values())

    async def _receive(self, request: Request) -> PlainTextResponse:
        if self.down:
            with self._lock:
                self.refused += 1
            return PlainTextResponse("down for the test", status_code=503)
        body = await request.body()
        try:
            event = self._receiver.verify(body, dict(request.headers))
        except InvalidEvent as exc:
            with self._lock:
                self.invalid += 1
            return PlainTextResponse(exc.code, status_code=400)
        with self._lock:
            self.received.append(event)
        return PlainTextResponse("ok")

    def wait_for(self, count: int, timeout: float = 10.0) -> list[LinkerEvent]:
        """The first `count` distinct events, waiting up to `timeout` seconds for them."""
        deadline = time.monotonic() + timeout
        while len(events := self.events) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(events)} of {count} events arrived in {timeout} s")
            time.sleep(0.02)
        return events[:count]

    def __enter__(self) -> EventSink:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()
