"""What the runner reads around a phase: CPU time from /proc, histograms from /metrics.

Pure functions over text, except `tree_cpu_seconds`, which reads /proc.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

REQUEST_HISTOGRAM = "linker_request_seconds"  # wall time of a step
LOOP_HISTOGRAM = "linker_request_loop_seconds"  # a step request's own time on the event loop
STEPS = ("start", "callback", "confirm", "commit")


def _stat_fields(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # gone since the listing
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def tree_cpu_seconds(root: int) -> float:
    """utime + stime of `root` and of all its live descendants, with the children they reaped.

    A `uvicorn --workers N` process's workers are its children: their CPU counts here while
    they run, and moves into their parent's cutime/cstime when they exit and are reaped.
    """
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(entry)
        if fields is None:
            continue
        # After the name: state, ppid, ..., utime (14th field), stime, cutime, cstime.
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = sum(int(f) for f in fields[11:15])
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(ticks.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


Buckets = dict[float, float]  # upper bound (seconds, inf last) -> cumulative count


def request_buckets(metrics_text: str, histogram: str = REQUEST_HISTOGRAM) -> dict[str, Buckets]:
    """A per-step histogram (`linker_request_seconds` by default), as cumulative bucket
    counts."""
    found: dict[str, Buckets] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != histogram:
            continue
        for sample in family.samples:
            if sample.name == f"{histogram}_bucket":
                step = sample.labels.get("step", "")
                found.setdefault(step, {})[float(sample.labels["le"])] = sample.value
    return found


def request_sums(metrics_text: str, histogram: str = REQUEST_HISTOGRAM) -> dict[str, float]:
    """A per-step histogram's `_sum`: the seconds of all its observations so far."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != histogram:
            continue
        for sample in family.samples:
            if sample.name == f"{histogram}_sum":
                found[sample.labels.get("step", "")] = sample.value
    return found


def bucket_delta(before: Mapping[float, float], after: Mapping[float, float]) -> Buckets:
    return {le: after[le] - before.get(le, 0.0) for le in sorted(after)}


def quantile(buckets: Mapping[float, float], q: float) -> float | None:
    """The q-quantile in seconds, interpolated within its bucket as Prometheus'
    `histogram_quantile` does; None when empty. In the +Inf bucket: the largest finite bound."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


@dataclass(frozen=True)
class StepTimes:
    """Server time (wall or loop) of one step over a phase: how many requests, p50 and p99
    in ms, and the time of all of them together (the histogram's sum) in ms."""

    count: int
    p50_ms: float | None
    p99_ms: float | None
    total_ms: float = 0.0


def step_times(before: str, after: str, histogram: str = REQUEST_HISTOGRAM) -> dict[str, StepTimes]:
    """Per step, what the phase added to `histogram` between two scrapes of /metrics."""
    first, last = request_buckets(before, histogram), request_buckets(after, histogram)
    sums_before, sums_after = request_sums(before, histogram), request_sums(after, histogram)
    times: dict[str, StepTimes] = {}
    for step in STEPS:
        if step not in last:
            continue
        delta = bucket_delta(first.get(step, {}), last[step])
        p50, p99 = quantile(delta, 0.5), quantile(delta, 0.99)
        times[step] = StepTimes(
            count=round(delta.get(float("inf"), 0.0)),
            p50_ms=None if p50 is None else p50 * 1000,
            p99_ms=None if p99 is None else p99 * 1000,
            total_ms=(sums_after.get(step, 0.0) - sums_before.get(step, 0.0)) * 1000,
        )
    return times
