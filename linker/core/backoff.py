"""When to retry a call to the tenant, and how long to wait: pure, with `now` and `rng` given."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

BASE_DELAY = 0.25
MAX_DELAY = 5.0


def retryable(status: int) -> bool:
    """A rate limit or any server error: 501, 505 and a CDN's 52x are faults as much as 503,
    never the tenant's answer to the request (RFC 9110 15.6)."""
    return status == 429 or 500 <= status <= 599


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def rate_limit_wait(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds the tenant asked us to wait: `Retry-After` first, then `x-ratelimit-reset`."""
    retry_after = headers.get("retry-after")
    seconds = _seconds(retry_after)
    if seconds is None and retry_after:
        try:
            seconds = parsedate_to_datetime(retry_after).timestamp() - now
        except (TypeError, ValueError):
            seconds = None
    if seconds is None:
        reset = _seconds(headers.get("x-ratelimit-reset"))
        if reset is not None:
            seconds = reset - now
    return None if seconds is None else max(0.0, seconds)


def backoff(attempt: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter (attempt 1 waits up to BASE_DELAY)."""
    return rng.uniform(0, min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1)))


def next_delay(
    attempt: int, *, status: int | None, headers: Mapping[str, str], now: float, rng: random.Random
) -> float:
    """How long to wait before attempt `attempt + 1`; `status` None means no answer at all."""
    if status == 429:
        asked = rate_limit_wait(headers, now=now)
        if asked is not None:
            # Jitter spreads the replicas that were all told the same reset time.
            return asked + rng.uniform(0, BASE_DELAY)
    return backoff(attempt, rng)


@dataclass
class Budget:
    """A deadline shared by every attempt of one operation."""

    deadline: float

    def remaining(self, now: float) -> float:
        return self.deadline - now

    def allows(self, wait: float, now: float) -> bool:
        return now + wait < self.deadline
