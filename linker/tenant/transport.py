"""The upstream interface: one small protocol for every call to the tenant.

The service asks one thing (`Upstream.request`) and reads three things of an answer (`Answer`:
status, headers, body). `linker.tenant.http.TenantHttp` (on aiohttp) serves it in production;
tests inject their own.

A request that gets no answer to trust raises one of linker's own failures, the vocabulary
the `Retrier` sorts by, whatever library moved the bytes:
- `PoolBusy`: every connection stayed busy for as long as the request could wait (a share of
  its own time limit), or too many requests already wait; the request was never sent (never
  retried: waiting longer would only queue behind them);
- `Unreached`: no connection to the tenant was made (DNS, refused, TLS, the proxy); nothing was
  sent, so resending is safe. `TlsRefused` is the one an operator fixes by trusting a CA;
- `AnswerLost`: the request may have reached the tenant, but no whole answer came back (a
  timeout, a dropped connection, a malformed or oversized answer): it may have been applied;
- `Unsendable`: the request itself cannot be sent (a bad URL or header): nothing was sent.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

from linker.core.errors import Signal

# Connections to the tenant per process: a worker at full CPU (a few hundred flows a second,
# five calls each) against a tenant some 50 ms away keeps about a hundred calls on the wire.
POOL_CONNECTIONS = 100
# A request waits for a free connection at most this share of its own time limit (the step's
# remaining budget, five seconds at most), so that the rest is always left for the answer: a
# write that gets its connection late is never sent with too little time to be answered.
POOL_WAIT_SHARE = 0.5
# At most this many requests per connection wait for one; the next is refused at once, so the
# queue is bounded whatever the load.
POOL_WAITERS_PER_CONNECTION = 4
TIMEOUT_SECONDS = 5.0

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


class UpstreamFailure(Signal):
    """No answer from the tenant to trust; the message says why, without secrets."""


class PoolBusy(UpstreamFailure):
    """Every connection stayed busy for as long as the request could wait, or the queue for
    one was full: the request was never sent."""


class Unreached(UpstreamFailure):
    """No connection to the tenant was made: nothing was sent."""


class TlsRefused(Unreached):
    """The tenant's (or the proxy's) certificate was not trusted, or not for that name."""


class AnswerLost(UpstreamFailure):
    """The request may have reached the tenant, but no whole, well-formed answer came back."""


class Unsendable(UpstreamFailure):
    """The request cannot be sent as asked (a bad URL or header): nothing was sent."""


class Answer(Protocol):
    """What the service reads of the tenant's answer."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class Upstream(Protocol):
    """Sends one request to the tenant; the body is a `form` or `json`, never both. `limit`
    bounds, in seconds, the wait for a connection and then the wait for the whole answer.
    Raises an `UpstreamFailure` when no answer can be trusted."""

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
