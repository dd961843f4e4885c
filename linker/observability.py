"""Structured log lines and Prometheus metrics.

Log lines carry codes, `sub`, client ids, connections, timings and token `jti`s: never a
token, a code, a cookie or a secret (`linker.redaction` enforces it for every logger).
`Metrics` keeps the small `count` / `observe` interface the service uses and exposes a
`prometheus_client` registry of its own per app, so several apps in one process (tests, the
demo) never share counters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.applications import Starlette

from linker.logs import JsonLine, RequestIdMiddleware
from linker.redaction import (
    SENSITIVE_PARAMS,
    RedactQueryFilter,
    install_redaction,
    redact_url,
)
from linker.transport import TIMEOUT_SECONDS, Answer, Upstream

__all__ = [
    "SENSITIVE_PARAMS",
    "Metrics",
    "RedactQueryFilter",
    "TimedUpstream",
    "instrument",
    "log_event",
    "redact_url",
]

log = logging.getLogger("linker")


def log_event(event: str, **fields: object) -> None:
    """One JSON line on the `linker` logger; `None` fields are left out."""
    record = {"event": event, **{k: v for k, v in fields.items() if v is not None}}
    log.info(JsonLine(record))


# Request steps are fast when the tenant is (start reads keys, callback exchanges a code,
# commit writes through the Management API) and bounded by the upstream budget (10 s). The
# fine buckets below 10 ms let p50 and p99 be estimated for a step that should take 1-5 ms.
REQUEST_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
)
UPSTREAM_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Counters and histograms, rendered in the Prometheus text format."""

    _COUNTERS: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        "linker_requests_total": (
            "Finished linking requests by step and outcome.",
            ("code", "status", "step"),
        ),
        "linker_upstream_attempts_total": (
            "Attempts at calls to the tenant by outcome.",
            ("outcome",),
        ),
    }
    _HISTOGRAMS: ClassVar[dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]]] = {
        "linker_request_seconds": (
            "Time spent serving a linking step (start, callback, commit).",
            ("step",),
            REQUEST_BUCKETS,
        ),
        "linker_upstream_seconds": (
            "Time until the tenant answered, by kind of call.",
            ("kind",),
            UPSTREAM_BUCKETS,
        ),
    }

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._counters = {
            name: Counter(name, text, labels, registry=self.registry)
            for name, (text, labels) in self._COUNTERS.items()
        }
        self._histograms = {
            name: Histogram(name, text, labels, buckets=buckets, registry=self.registry)
            for name, (text, labels, buckets) in self._HISTOGRAMS.items()
        }

    def count(self, name: str, **labels: str) -> None:
        counter = self._counters.get(name)
        if counter is None:  # a name the service started using: registered on first use
            help_text = name.replace("_", " ")
            counter = Counter(name, help_text, sorted(labels), registry=self.registry)
            self._counters[name] = counter
        (counter.labels(**labels) if labels else counter).inc()

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        histogram = self._histograms.get(name)
        if histogram is None:
            histogram = Histogram(
                name,
                name.replace("_", " "),
                sorted(labels),
                buckets=REQUEST_BUCKETS,
                registry=self.registry,
            )
            self._histograms[name] = histogram
        (histogram.labels(**labels) if labels else histogram).observe(seconds)

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")


def upstream_kind(url: str) -> str:
    """What a call to the tenant was for, from its path (a small, fixed label set)."""
    path = urlsplit(url).path
    if path.endswith("/openid-configuration"):
        return "discovery"
    if path.endswith("jwks.json"):
        return "jwks"
    if path.endswith("/oauth/token"):
        return "token"
    if path.endswith("/userinfo"):
        return "userinfo"
    if "/api/v2/" in path:
        return "management"
    return "other"


class TimedUpstream:
    """Times every call `upstream` makes, until its whole answer is read, into
    `linker_upstream_seconds` by kind. A call that fails is not timed."""

    def __init__(self, upstream: Upstream, metrics: Metrics) -> None:
        self.upstream = upstream
        self._metrics = metrics

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
        began = time.perf_counter()
        answer = await self.upstream.request(
            method, url, headers=headers, form=form, json=json, limit=limit
        )
        elapsed = time.perf_counter() - began
        self._metrics.observe("linker_upstream_seconds", elapsed, kind=upstream_kind(url))
        return answer

    async def aclose(self) -> None:
        await self.upstream.aclose()


def instrument(app: Starlette) -> None:
    """Request ids on every request and response, and redaction of every log record."""
    install_redaction()
    app.add_middleware(RequestIdMiddleware)
