"""Calls to the tenant with retries inside one time budget.

Retried: 429 (waiting as the tenant asks, plus jitter), 5xx, timeouts and connection errors.
A write whose outcome is unknown (it may have been applied before the answer was lost) is not
blindly resent: `OutcomeUnknown` hands the decision back to the caller, who checks first.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from linker.core.backoff import Budget, next_delay, retryable
from linker.core.errors import Code, LinkError, Signal
from linker.tenant.transport import Answer, PoolBusy, Unreached, Unsendable, UpstreamFailure

MAX_ATTEMPT_TIMEOUT = 5.0

Send = Callable[[float], Awaitable[Answer]]
"""Makes one attempt; its argument is the attempt's timeout in seconds."""


class OutcomeUnknown(Signal):
    """A write got no trustworthy answer; `delay` is how long to wait before trying again."""

    def __init__(self, delay: float) -> None:
        super().__init__("the outcome of the request is unknown")
        self.delay = delay


@dataclass
class Retrier:
    """Runs attempts until one gets a final answer or the budget cannot pay for another wait."""

    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.SystemRandom)
    on_attempt: Callable[[str], None] = lambda outcome: None

    async def send(
        self, send: Send, budget: Budget, *, write: bool = False, once: bool = False
    ) -> Answer:
        """Return the first non-retryable response; raise `upstream_unavailable` past the budget.

        With `write=True`, a timeout, a dropped connection or a 5xx raises `OutcomeUnknown`
        instead of resending. With `once=True` (a single-use authorization code), such an
        answer ends in `upstream_unavailable`: resending could only meet `invalid_grant`.
        A 429 or a connection that was never made is retried in both cases.
        """
        attempt = 0
        while True:
            attempt += 1
            remaining = budget.remaining(self.clock())
            if remaining <= 0:
                raise _exhausted()
            status: int | None = None
            headers: Mapping[str, str] = {}
            unknown = False
            try:
                response = await send(min(MAX_ATTEMPT_TIMEOUT, remaining))
            except PoolBusy:
                # Every connection is busy: waiting longer would only queue behind them.
                self.on_attempt("pool_timeout")
                raise _exhausted() from None
            except Unsendable:
                self.on_attempt("unsendable")  # nothing was sent, and resending cannot help
                raise _exhausted() from None
            except Unreached:
                self.on_attempt("connect_error")  # never reached the tenant: safe to resend
            except UpstreamFailure:
                self.on_attempt("transport_error")  # the answer was lost: it may have applied
                unknown = True
            else:
                self.on_attempt(str(response.status_code))
                if not retryable(response.status_code):
                    return response
                status, headers = response.status_code, response.headers
                unknown = status >= 500
            now = self.clock()
            delay = next_delay(attempt, status=status, headers=headers, now=now, rng=self.rng)
            # Checked before the budget: a write that may have happened is never reported as
            # "nothing changed" just because the time is up.
            if write and unknown:
                raise OutcomeUnknown(delay)
            if once and unknown:
                raise _exhausted()
            if not budget.allows(delay, now):
                raise _exhausted()
            await self.sleep(delay)


def _exhausted() -> LinkError:
    return LinkError(
        Code.UPSTREAM_UNAVAILABLE,
        "The Auth0 tenant did not answer in time; nothing was changed. Please try again.",
    )
