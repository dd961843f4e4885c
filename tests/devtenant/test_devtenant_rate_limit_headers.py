"""`x-ratelimit-limit`, `x-ratelimit-remaining`, `x-ratelimit-reset` on every Management API
answer (and the My Account API's), not only on a 429.

Source: https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy/management-api-endpoint-rate-limits
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from linker.devtenant import load_seed
from tests.devtenant.conftest import Driver, MakeDriver

HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


async def test_every_management_answer_carries_the_headers(driver: Driver) -> None:
    token = await driver.management_token()
    found = await driver.api("GET", "users/google-oauth2|alice", token=token)
    missing = await driver.api("GET", "users/nobody|1", token=token)
    unauthorized = await driver.http.get("/api/v2/users/google-oauth2|alice")
    for answer, status in ((found, 200), (missing, 404), (unauthorized, 401)):
        assert answer.status_code == status
        assert all(name in answer.headers for name in HEADERS), answer.headers
    assert found.headers["x-ratelimit-limit"] == "50"
    remaining = [int(a.headers["x-ratelimit-remaining"]) for a in (found, missing, unauthorized)]
    assert remaining == [49, 48, 47]  # one window: the tenant's clock stands still
    assert int(found.headers["x-ratelimit-reset"]) == int(driver.clock()) + 1
    driver.clock.advance(1)
    fresh = await driver.api("GET", "users/google-oauth2|alice", token=token)
    assert fresh.headers["x-ratelimit-remaining"] == "49"


async def test_an_enforced_limit_answers_429_with_the_headers(make_driver: MakeDriver) -> None:
    seed = load_seed(
        {
            **_bundled(),
            "settings": {"management_rate_limit": 2, "enforce_management_rate_limit": True},
        }
    )
    async with make_driver(seed=seed) as driver:
        token = await driver.management_token()
        answers = [await driver.api("GET", "users/google-oauth2|alice", token=token) for _ in "abc"]
        assert [a.status_code for a in answers] == [200, 200, 429]
        limited = answers[-1]
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert limited.headers["retry-after"] == "1"
        assert limited.json()["statusCode"] == 429


def _bundled() -> dict[str, Any]:
    text = resources.files("linker.devtenant").joinpath("seed.json").read_text()
    seed: dict[str, Any] = json.loads(text)
    return seed
