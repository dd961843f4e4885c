"""No lock-outs: each user has at most LINKER_MAX_PENDING_PER_USER pending attempts, a new one
replacing that user's oldest; a full store refuses new attempts and evicts nothing live."""

from __future__ import annotations

import pytest

from linker.state.store import MemoryStore
from tests.support.harness import Harness, nested_state, read_resume


@pytest.mark.parametrize("env_overrides", [{"LINKER_MAX_PENDING_PER_USER": "2"}])
async def test_a_new_attempt_replaces_only_that_users_oldest(harness: Harness) -> None:
    bob = await harness.start(
        sub="google-oauth2|bob", id_token_hint=harness.hint(sub="google-oauth2|bob")
    )
    tabs = [await harness.start() for _ in range(3)]
    oldest, *kept = tabs
    login = harness.tenant.login(oldest.headers["location"], sub="github|1001")
    dropped = await harness.callback(code=login, state=nested_state(oldest))
    assert dropped.status_code == 400 and "<code>transaction_not_found</code>" in dropped.text
    for tab in kept:
        code = harness.tenant.login(tab.headers["location"], sub="github|1001")
        assert (
            read_resume(await harness.callback(code=code, state=nested_state(tab))).status
            == "pending"
        )
    code = harness.tenant.login(bob.headers["location"], sub="github|1001")
    assert (
        read_resume(await harness.callback(code=code, state=nested_state(bob))).status == "pending"
    )


async def test_a_full_store_refuses_new_attempts_and_keeps_live_ones(harness: Harness) -> None:
    small = MemoryStore(max_entries=6, clock=harness.clock)  # new attempts may fill 4
    harness.use_store(small)
    first = await harness.start()  # a jti and a transaction
    second = await harness.start()  # two more: full for new attempts
    assert first.status_code == second.status_code == 302
    refused = read_resume(await harness.start())
    assert (refused.status, refused.error) == ("failed", "upstream_unavailable")
    code = harness.tenant.login(first.headers["location"], sub="github|1001")
    assert (
        read_resume(await harness.callback(code=code, state=nested_state(first))).status
        == "pending"
    )
