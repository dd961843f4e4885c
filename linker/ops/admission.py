"""Admission control: at most so many link steps in flight in one process, and new attempts
only while the store has room for them.

Beyond the bound a step is refused at once ("busy, try again") instead of waiting its turn: a
queue longer than the tenant can drain times out everyone in it, and their retries feed it
(a congestion collapse). The decision is taken before a step reads or writes anything, so a
refused step leaves nothing half-done and can simply be tried again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from linker.core.errors import Code, LinkError
from linker.ops.observability import Metrics, log_event


class Admission:
    """Counts the steps in flight; one event loop per process, so a plain counter is exact."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Yields True with a slot held for the step, or False when every slot is taken."""
        if self.in_flight >= self.limit:
            yield False
            return
        self.in_flight += 1
        try:
            yield True
        finally:
            self.in_flight -= 1


def busy(*, reload: bool = False) -> LinkError:
    """The refusal: `upstream_unavailable` (failed, worth trying again), nothing changed."""
    again = "Reload this page in a moment" if reload else "Please try again in a moment"
    return LinkError(
        Code.UPSTREAM_UNAVAILABLE, f"Linking is busy right now and nothing was changed. {again}."
    )


def no_room() -> LinkError:
    """A new attempt refused because the store keeps its room for the attempts under way:
    failed, worth trying again later; nothing changed."""
    return LinkError(
        Code.UPSTREAM_UNAVAILABLE,
        "Too many links are being started right now, and nothing was changed. "
        "Please try again in a few minutes.",
    )


# The log line about refused starts comes once per this many seconds at most.
REFUSAL_LOG_SECONDS = 60.0


class Refusals:
    """Starts refused (for room, or throttled): counted in the metrics, and told in one log
    line a minute at most, with how many since the last."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since: Counter[str] = Counter()
        self._next_log = 0.0

    def refused(self, metrics: Metrics, reason: str) -> None:
        metrics.count("linker_starts_refused_total", reason=reason)
        self._since[reason] += 1
        now = self._clock()
        if now >= self._next_log:
            log_event("starts_refused", **{k: n for k, n in sorted(self._since.items())})
            self._since.clear()
            self._next_log = now + REFUSAL_LOG_SECONDS
