"""The store's clock, which every replica shares, and how far this host's clock is from it.

Replicas judge time on their own clocks, and NTP breaks more often than anyone plans. What
must agree between replicas is judged by the store instead: leases and the age of pending work
are TTLs that Redis counts down (`linker.steps.reconcile`). The times the steps stamp and compare (a
transaction's start and expiry, which another replica checks against the nested login's
`auth_time`; tokens' `exp` and `iat`) are read from `now()`: this host's clock less its offset
from the store's, measured at start and then every `MEASURE_EVERY` seconds by each replica's
background loop, so that replicas agree with each other within a store round trip. Token times
also keep a leeway of a few minutes (`linker.core.claims.LEEWAY`) for the tenant's and the
Action's clocks. When a check of time refuses all the same and this host's clock is off from
the store's by more than `STRICT_LEEWAY` (it jumped since the last measure), the refusal is
the server's fault, not the user's: `judge` measures again and answers a retryable `failed`
`upstream_unavailable`. `/readyz` and `linker check` report the offset.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from linker.core.claims import STRICT_LEEWAY
from linker.core.errors import Code, LinkError
from linker.state.store import Store, StoreUnavailable, open_store

# The offset is measured again at most this often (a measure is one store command), and
# after each refusal that time decided (only a validly signed token gets that far).
MEASURE_EVERY = 10.0


class StoreClock:
    """This host's offset from the store's clock: positive when the host is ahead."""

    def __init__(self, store: Callable[[], Store], clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        self._offset: float | None = None
        self._measured_at = float("-inf")  # monotonic

    def now(self) -> float:
        """The store's time as this host knows it: its own clock less the last offset
        measured (its own clock alone until one is)."""
        return self._clock() - (self._offset or 0.0)

    async def offset(self, *, max_age: float = MEASURE_EVERY) -> float | None:
        """The offset in seconds (None when the store cannot be read), measured again when
        the last measure is older than `max_age`: half the store's round trip is the error of
        a measure."""
        if time.monotonic() - self._measured_at < max_age:
            return self._offset
        before = self._clock()
        try:
            store_now = await self._store().now()
        except StoreUnavailable:
            return None
        after = self._clock()
        self._offset, self._measured_at = (before + after) / 2 - store_now, time.monotonic()
        return self._offset

    async def off(self) -> bool:
        """This host's clock is off from the store's by more than `STRICT_LEEWAY`."""
        offset = await self.offset(max_age=0.0)
        return offset is not None and abs(offset) > STRICT_LEEWAY

    async def judge(self, error: LinkError) -> LinkError:
        """`error`, or, when time decided it and this host's clock is off, "try again"."""
        if error.by_clock and await self.off():
            return clock_off()
        return error


def skew_problem(offset: float | None) -> str | None:
    """A warning when the host's clock is off from the store's by more than the leeway."""
    if offset is None or abs(offset) <= STRICT_LEEWAY:
        return None
    direction = "ahead of" if offset > 0 else "behind"
    return (
        f"this host's clock is {abs(offset):.0f} s {direction} the store's (more than "
        f"{STRICT_LEEWAY} s): fix its time synchronisation (NTP)"
    )


async def clock_notes(store_url: str, clock: Callable[[], float] = time.time) -> list[str]:
    """`linker check`'s lines about this host's clock: its offset from the store's, and a
    warning beyond the leeway. None for a `memory://` store, which has no other clock."""
    if store_url.startswith("memory:"):
        return []
    store = open_store(store_url)
    try:
        offset = await StoreClock(lambda: store, clock).offset()
    finally:
        await store.aclose()
    if offset is None:
        return ["note: the store could not be reached; this host's clock was not compared"]
    lines = [f"note: this host's clock is {offset:+.3f} s from the store's"]
    problem = skew_problem(offset)
    return lines + ([f"warning: {problem}"] if problem else [])


def clock_off() -> LinkError:
    """The refusal's replacement: the server's clock is at fault, and the user may retry."""
    return LinkError(
        Code.UPSTREAM_UNAVAILABLE,
        "Linking is unavailable right now: this server's clock is off. Please try again.",
    )
