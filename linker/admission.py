"""Admission control: at most so many link steps in flight in one process.

Beyond the bound a step is refused at once ("busy, try again") instead of waiting its turn: a
queue longer than the tenant can drain times out everyone in it, and their retries feed it
(a congestion collapse). The decision is taken before a step reads or writes anything, so a
refused step leaves nothing half-done and can simply be tried again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from linker.core.errors import Code, LinkError


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
