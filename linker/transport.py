"""The upstream interface: one small protocol for every call to the tenant.

The service asks one thing (`Upstream.request`) and reads three things of an answer (`Answer`:
status, headers, body). `linker.http1.Http1Upstream` serves it in production; an
`httpx.AsyncClient` can be injected instead (tests use `httpx.MockTransport`): `as_upstream`
adapts it.

Failures are httpx's transport exceptions either way, the vocabulary the `Retrier` sorts by:
`ConnectError` / `ConnectTimeout` (never reached the tenant: safe to resend), `PoolTimeout`
(never sent, and never retried), any other `TransportError` (the answer was lost: the request
may have been applied).
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx

POOL_CONNECTIONS = 32
POOL_WAIT_SECONDS = 1.0
TIMEOUT_SECONDS = 5.0

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class Answer(Protocol):
    """What the service reads of the tenant's answer (an `httpx.Response` is one)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class Upstream(Protocol):
    """Sends one request to the tenant; the body is a `form` or `json`, never both. `limit`
    bounds, in seconds, the wait for a connection and then the wait for the whole answer."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        json: Any = None,
        limit: float = TIMEOUT_SECONDS,
    ) -> Answer: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Reply:
    status_code: int
    headers: Mapping[str, str]  # looked up case-insensitively
    content: bytes


def encode_body(
    headers: Mapping[str, str] | None, form: Mapping[str, str] | None, json: Any
) -> tuple[dict[str, str], bytes | None]:
    """The request's headers with its Content-Type, and its body as bytes."""
    sent = dict(headers or {})
    if form is not None:
        sent["Content-Type"] = FORM
        return sent, urlencode(form).encode("ascii")
    if json is not None:
        sent["Content-Type"] = JSON
        return sent, jsonlib.dumps(json, separators=(",", ":")).encode("utf-8")
    return sent, None


class HttpxUpstream:
    """An injected `httpx.AsyncClient` behind the `Upstream` interface. Its owner closes it."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        json: Any = None,
        limit: float = TIMEOUT_SECONDS,
    ) -> Answer:
        sent, body = encode_body(headers, form, json)
        return await self.client.request(method, url, headers=sent, content=body, timeout=limit)

    async def aclose(self) -> None:
        """Nothing: the client belongs to whoever made it."""


def as_upstream(http: httpx.AsyncClient | Upstream) -> Upstream:
    return HttpxUpstream(http) if isinstance(http, httpx.AsyncClient) else http
