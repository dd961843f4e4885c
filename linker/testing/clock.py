"""A clock a test moves by hand, for everything in linker that takes `clock=` (and `sleep=`)."""

from __future__ import annotations

import time


class FakeClock:
    """Time as the code under test sees it: `clock()` is now, in seconds since the epoch.

    By default the clock stands still at `start` (the current whole second if not given) until
    the test moves it with `advance`, by assigning `now` (`clock.now += 61`), or through
    `sleep`, which moves it instead of waiting and records the wait in `slept`. Pass
    `clock.sleep` wherever linker takes a `sleep=` so retries take no real time.

    With `real_time=True` the clock runs with the wall clock, moved by what the test added: for
    a server on another thread (see `linker.testing.pytest_plugin`) whose requests need time to
    pass while a test still skips ahead. `offset` is how far the clock has been moved in all.
    """

    def __init__(self, start: float | None = None, *, real_time: bool = False) -> None:
        self.real_time = real_time
        self.offset = 0.0
        self.slept: list[float] = []
        self._now = float(int(time.time())) if start is None else float(start)

    def __call__(self) -> float:
        return time.time() + self.offset if self.real_time else self._now

    @property
    def now(self) -> float:
        return self()

    @now.setter
    def now(self, value: float) -> None:
        self.offset += value - self()
        if not self.real_time:
            self._now = value  # exactly what was set: tests compare it with token claims

    def advance(self, seconds: float) -> None:
        self.now = self() + seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
