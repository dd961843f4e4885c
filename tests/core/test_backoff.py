"""linker.core.backoff: how long to wait before the next call to the tenant, and the budget."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linker.core.backoff import (
    BASE_DELAY,
    MAX_DELAY,
    Budget,
    backoff,
    next_delay,
    rate_limit_wait,
)

NOW = 1_800_000_000.0


@given(st.integers(min_value=1, max_value=64), st.integers())
def test_backoff_stays_within_its_exponential_cap(attempt: int, seed: int) -> None:
    wait = backoff(attempt, random.Random(seed))
    assert 0 <= wait <= min(MAX_DELAY, BASE_DELAY * 2 ** (attempt - 1))


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": formatdate(NOW + 7, usegmt=True)}, 7.0),
        ({"x-ratelimit-reset": str(int(NOW) + 9)}, 9.0),
        ({"retry-after": "soon", "x-ratelimit-reset": str(int(NOW) + 2)}, 2.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_the_tenant_says_how_long_to_wait(headers: dict[str, str], wait: float | None) -> None:
    assert rate_limit_wait(headers, now=NOW) == (None if wait is None else pytest.approx(wait))


def test_a_429_waits_as_asked_plus_a_little_jitter() -> None:
    wait = next_delay(1, status=429, headers={"retry-after": "2"}, now=NOW, rng=random.Random(1))
    assert 2.0 <= wait <= 2.0 + BASE_DELAY


def test_other_failures_back_off() -> None:
    wait = next_delay(3, status=None, headers={"retry-after": "60"}, now=NOW, rng=random.Random(1))
    assert 0 <= wait <= BASE_DELAY * 4


def test_a_budget_allows_only_waits_that_end_before_its_deadline() -> None:
    budget = Budget(deadline=NOW + 5)
    assert budget.remaining(NOW) == 5
    assert budget.allows(4.9, NOW) and not budget.allows(5, NOW)
