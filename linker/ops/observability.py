"""Structured log lines and Prometheus metrics.

Log lines carry codes, `sub`, client ids, connections, timings and token `jti`s: never a
token, a code, a cookie or a secret (`linker.ops.redaction` enforces it for every logger).
`Metrics` keeps the small `count` / `observe` interface the service uses and exposes a
`prometheus_client` registry of its own per app, so several apps in one process (tests, the
demo) never share counters; under `linker serve --workers N` they are shared instead, so
that one scrape sums every worker (`PROMETHEUS_MULTIPROC_DIR`). `linker.web.edge` times each
linking step's request on the event loop (`linker.ops.looptime`) into it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.multiprocess import MultiProcessCollector

from linker.ops.logs import JsonLine
from linker.ops.redaction import (
    SENSITIVE_PARAMS,
    RedactQueryFilter,
    bounded,
    redact_url,
)
from linker.tenant.transport import TIMEOUT_SECONDS, Answer, Upstream

__all__ = [
    "MULTIPROCESS_DIR",
    "SENSITIVE_PARAMS",
    "Metrics",
    "RedactQueryFilter",
    "TimedUpstream",
    "log_event",
    "redact_url",
]

log = logging.getLogger("linker")
# A logged text field (a connection name, a subject, an error code) is cut past this.
MAX_FIELD = 256


def log_event(event: str, **fields: object) -> None:
    """One JSON line on the `linker` logger; `None` fields are left out, and text fields cut
    to `MAX_FIELD` characters: a connection name or a subject comes from the request, and a
    log line is no place for kilobytes of it."""
    record = {
        "event": event,
        **{
            k: bounded(v, MAX_FIELD) if isinstance(v, str) else v
            for k, v in fields.items()
            if v is not None
        },
    }
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

# prometheus_client's multiprocess mode: each process writes its values to files in this
# directory, and a scrape of any of them sums them all. `linker serve --workers N` sets it.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


class Metrics:
    """Counters and histograms, rendered in the Prometheus text format.

    Without `PROMETHEUS_MULTIPROC_DIR`, each instance has a registry of its own. With it (the
    workers of `linker serve --workers N`), values go to that directory, shared with the
    other processes that write there, and `render` sums every process's files.
    """

    _COUNTERS: ClassVar[dict[str, tuple[str, tuple[str, ...]]]] = {
        "linker_requests_total": (
            "Finished linking requests by step and outcome.",
            ("code", "status", "step"),
        ),
        "linker_upstream_attempts_total": (
            "Attempts at calls to the tenant by outcome.",
            ("outcome",),
        ),
        "linker_audit_failures_total": (
            "Audit lines the audit file refused, and commits refused because it could not "
            "take lines.",
            (),
        ),
    }
    _HISTOGRAMS: ClassVar[dict[str, tuple[str, tuple[str, ...], tuple[float, ...]]]] = {
        "linker_request_seconds": (
            "Wall time spent serving a linking step (start, callback, commit), waits for the "
            "tenant and the store and time queued behind other requests included.",
            ("step",),
            REQUEST_BUCKETS,
        ),
        "linker_request_loop_seconds": (
            "Event-loop time spent running a linking step's request: its own CPU on the loop, "
            "without waits for the tenant or the store and without time queued behind other "
            "requests.",
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
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_DIR) or None
        if self.multiprocess_dir is not None and not getattr(
            values.ValueClass, "_multiprocess", False
        ):
            # prometheus_client chose in-memory values when first imported: this process's
            # counts would never reach the directory, and scrapes would leave them out.
            raise RuntimeError(
                f"{MULTIPROCESS_DIR} was set after prometheus_client was imported; "
                "set it before the process starts"
            )
        self._counters = {
            name: Counter(name, text, labels, registry=self.registry)
            for name, (text, labels) in self._COUNTERS.items()
        }
        self._histograms = {
            name: Histogram(name, text, labels, buckets=buckets, registry=self.registry)
            for name, (text, labels, buckets) in self._HISTOGRAMS.items()
        }
        # (name, *label pairs) -> the labelled child: prometheus_client's own lookup sorts,
        # validates and locks on every call; the label values come from small fixed sets.
        self._children: dict[tuple[Any, ...], Any] = {}
        self._gauges: dict[str, Gauge] = {}

    def count(self, name: str, **labels: str) -> None:
        key = (name, *labels.items())
        child = self._children.get(key)
        if child is None:
            counter = self._counters.get(name)
            if counter is None:  # a name the service started using: registered on first use
                help_text = name.replace("_", " ")
                counter = Counter(name, help_text, sorted(labels), registry=self.registry)
                self._counters[name] = counter
            child = self._children[key] = counter.labels(**labels) if labels else counter
        child.inc()

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        key = (name, *labels.items())
        child = self._children.get(key)
        if child is None:
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
            child = self._children[key] = histogram.labels(**labels) if labels else histogram
        child.observe(seconds)

    def gauge(self, name: str, value: float) -> None:
        """Set a gauge (across worker processes: the largest value)."""
        gauge = self._gauges.get(name)
        if gauge is None:
            gauge = Gauge(
                name, name.replace("_", " "), registry=self.registry, multiprocess_mode="max"
            )
            self._gauges[name] = gauge
        gauge.set(value)

    def render(self) -> str:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry).decode("utf-8")
        every_process = CollectorRegistry()
        # prometheus_client leaves this constructor unannotated.
        MultiProcessCollector(every_process, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(every_process).decode("utf-8")


def upstream_kind(url: str) -> str:
    """What a call to the tenant was for, from its path (a small, fixed label set)."""
    path = url.partition("?")[0]  # the scheme and host cannot end like these paths
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
