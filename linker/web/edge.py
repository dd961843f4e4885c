"""The one middleware in front of the app: what every request gets before any route runs.

Four guards share one layer, so that a request pays for one wrapper of `send` and one
coroutine, not four (each is described where its rules live):

- a request id (`linker.ops.logs`): a sane incoming `X-Request-Id` is kept, anything else
  replaced; every log line made while serving the request carries it, and the response
  echoes it;
- bodies bounded before they are read (`linker.web.body_limit`): a declared length above
  the route's cap is answered 413 unread; a body of unknown length is counted as it comes
  and cut at the cap;
- an `OSError` that escapes a request before its answer began (out of descriptors, say) is
  a 503 `upstream_unavailable`, never a 500 (`linker.ops.host_limits`);
- each linking step's own time on the event loop is observed as
  `linker_request_loop_seconds{step}` (`linker.ops.looptime`), the guards' time included.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from linker.core.errors import Code
from linker.ops.host_limits import OutOfResources
from linker.ops.logs import REQUEST_ID_BYTES, incoming_request_id, request_id
from linker.ops.looptime import LoopTimer
from linker.ops.observability import Metrics
from linker.web.body_limit import BODY_CAPS, NO_BODY, BodyTooLarge, declared_length

Header = tuple[bytes, bytes]


class Edge:
    """`caps`: body caps by path (`default` elsewhere); `steps`: (method, path) -> the step
    label whose loop time is observed."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        steps: Mapping[tuple[str, str], str],
        caps: Mapping[str, int] = BODY_CAPS,
        default: int = NO_BODY,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.steps = dict(steps)
        self.caps = dict(caps)
        self.default = default
        self.out_of_resources = OutOfResources()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_request_id(scope)
        header = (REQUEST_ID_BYTES, rid.encode("ascii"))
        token = request_id.set(rid)
        try:
            await self._serve(scope, receive, send, header)
        finally:
            request_id.reset(token)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, header: Header) -> None:
        path = scope.get("path", "")
        cap = self.caps.get(path, self.default)
        declared = declared_length(scope)
        if declared is not None and (declared > cap or (declared < 0 and cap == NO_BODY)):
            await _too_large(send, cap, header)
            return
        started = False

        async def edge_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        # Every body is counted as it comes: one declared within the cap, and one declaring
        # nothing at all (an HTTP/2 stream, as another server may hand it over).
        receive = _bounded(receive, cap)
        step = self.steps.get((scope.get("method", ""), path))
        try:
            if step is None:
                await self.app(scope, receive, edge_send)
                return
            timer: LoopTimer[None] = LoopTimer(self.app(scope, receive, edge_send))
            try:
                await timer
            finally:
                self.metrics.observe("linker_request_loop_seconds", timer.seconds, step=step)
        except BodyTooLarge:
            if not started:
                await _too_large(send, cap, header)
        except ClientDisconnect:
            return  # the client left before its body was whole: no one to answer, nothing done
        except OSError as exc:
            if started:
                raise
            self.out_of_resources.note(exc)
            description = "Linking is unavailable right now; try again."
            await _refuse(send, 503, Code.UPSTREAM_UNAVAILABLE.value, description, header)


def _bounded(receive: Receive, cap: int) -> Receive:
    """`receive`, raising `BodyTooLarge` once the body's pieces pass `cap` bytes."""
    seen = 0

    async def bounded_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise BodyTooLarge
        return message

    return bounded_receive


async def _too_large(send: Send, cap: int, header: Header) -> None:
    """The 413, closing the connection: the server does not go on reading the rest."""
    description = f"The request body is larger than this route takes ({cap} bytes)."
    await _refuse(send, 413, "invalid_request", description, header, (b"connection", b"close"))


async def _refuse(send: Send, status: int, error: str, description: str, *headers: Header) -> None:
    """A JSON error answer made before the app answered (never stored by a cache)."""
    body = json.dumps({"error": error, "error_description": description}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
