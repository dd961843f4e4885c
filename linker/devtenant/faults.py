"""Fault injection and the request log: how tests make the tenant misbehave, and watch it.

A fault rule matches a method and a path regex and fires `times` times (or forever):

- `status`: answer that status with an Auth0-style error body, without handling the request;
- `rate_limit`: answer 429 with `x-ratelimit-*` headers and `Retry-After`;
- `latency`: wait `delay` seconds, then handle;
- `latency_after`: handle (the change happens), then wait before answering, so a client that
  times out cannot know the outcome;
- `drop`: start a response and break the connection before it is complete.

The log records every request outside `/__admin` (with the fault that hit it, if any), so a
test can assert "the identities POST was called exactly once".
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KINDS = frozenset({"status", "rate_limit", "latency", "latency_after", "drop"})
ADMIN_PREFIX = "/__admin"
LOGGED_REQUESTS = 5000  # the request log keeps the newest ones


@dataclass
class Fault:
    method: str | None  # None matches any method
    path: re.Pattern[str]
    kind: str
    status: int = 503
    delay: float = 1.0
    retry_after: int = 1
    times: int | None = None  # None: until removed

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(self.path.search(path))

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path.pattern,
            "kind": self.kind,
            "status": self.status,
            "delay": self.delay,
            "retry_after": self.retry_after,
            "times": self.times,
        }


def parse_fault(body: Any) -> Fault:
    """A rule from the admin API's JSON; `ValueError` names what is wrong."""
    if not isinstance(body, Mapping):
        raise ValueError("expected a JSON object")
    kind = body.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}")
    method = body.get("method")
    if method is not None and not isinstance(method, str):
        raise ValueError("method must be a string")
    try:
        path = re.compile(str(body.get("path", "")))
    except re.error as exc:
        raise ValueError(f"path is not a regular expression: {exc}") from exc
    times = body.get("times")
    if times is not None and (not isinstance(times, int) or times < 1):
        raise ValueError("times must be a positive integer")
    status = body.get("status", 503)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError("status must be an HTTP status code")
    delay = body.get("delay", 1.0)
    retry_after = body.get("retry_after", 1)
    if not isinstance(delay, int | float) or delay < 0:
        raise ValueError("delay must be a non-negative number of seconds")
    if not isinstance(retry_after, int) or retry_after < 0:
        raise ValueError("retry_after must be a non-negative integer")
    return Fault(
        method=method.upper() if method and method != "*" else None,
        path=path,
        kind=kind,
        status=status,
        delay=float(delay),
        retry_after=retry_after,
        times=times,
    )


class FaultBook:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule that matches, spending one of its `times`."""
        for fault in self._faults:
            if fault.matches(method, path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
        return None


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int | None
    fault: str | None

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "fault": self.fault,
        }


class RequestLog:
    def __init__(self) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=LOGGED_REQUESTS)

    def add(self, entry: LoggedRequest) -> None:
        self._entries.append(entry)

    def clear(self) -> None:
        self._entries.clear()

    def select(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        pattern = re.compile(path) if path else None
        return [
            e
            for e in self._entries
            if (method is None or e.method == method.upper())
            and (pattern is None or pattern.search(e.path))
        ]


class FaultMiddleware:
    """Applies fault rules and records requests; `/__admin` is never faulted nor logged."""

    def __init__(
        self, app: ASGIApp, *, faults: FaultBook, log: RequestLog, now: Callable[[], float]
    ) -> None:
        self.app = app
        self.faults = faults
        self.log = log
        self.now = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.faults.take(scope["method"], scope["path"])
        entry = LoggedRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            status=None,
            fault=fault.kind if fault else None,
        )
        self.log.add(entry)

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        if fault is None:
            await self.app(scope, receive, logging_send)
        elif fault.kind == "status":
            await self._answer(logging_send, fault.status, {})
        elif fault.kind == "rate_limit":
            reset = int(self.now()) + fault.retry_after
            headers = {
                "x-ratelimit-limit": "2",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(reset),
                "retry-after": str(fault.retry_after),
            }
            await self._answer(logging_send, 429, headers)
        elif fault.kind == "latency":
            await asyncio.sleep(fault.delay)
            await self.app(scope, receive, logging_send)
        elif fault.kind == "latency_after":
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await self.app(scope, receive, hold)
            await asyncio.sleep(fault.delay)
            for message in held:
                await logging_send(message)
        else:
            await self._drop(logging_send)

    @staticmethod
    async def _answer(send: Send, status: int, headers: Mapping[str, str]) -> None:
        reason = "Too Many Requests" if status == 429 else "Injected fault"
        message = "Global limit has been reached" if status == 429 else "Injected fault"
        body = json.dumps({"statusCode": status, "error": reason, "message": message}).encode()
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        raw += [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _drop(send: Send) -> None:
        # Promise a body and break off: over a socket the server closes the connection
        # mid-response. In process (httpx.ASGITransport) the error below reaches the client
        # as the same transport error a real drop produces.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"partial":', "more_body": True})
        raise httpx.RemoteProtocolError("injected fault: connection dropped mid-response")
