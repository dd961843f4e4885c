"""A merge never undoes anyone else's change. The Management API replaces each top-level
metadata key a PATCH names, so the merge is computed from a fresh read of the primary made in
the commit itself, and its PATCH names only the keys it adds or changes: an administrator's
change between `/continue` and the PATCH survives, and two commits for one user keep both."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from linker.steps.merging import LOCK_PREFIX
from linker.testing import FakeClock
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import (
    PRIMARY,
    SECONDARY,
    Harness,
    hs256,
    make_settings,
    read_resume,
    running,
)


async def prepared(harness: Harness, sub: str = SECONDARY) -> str:
    resumed = read_resume(await harness.link_callback(sub))
    assert resumed.status == "pending", resumed.result
    return resumed.commit


def continued(harness: Harness, commit: str) -> str:
    """The commit token the Action makes at `/continue`, from the primary as it is now."""
    return hs256(harness.commit_claims(commit))


def patches(harness: Harness) -> list[dict[str, Any]]:
    return [
        json.loads(r.content)
        for r in harness.tenant.requests
        if r.method == "PATCH" and r.url.path.endswith(PRIMARY)
    ]


async def test_an_administrators_change_after_continue_survives(harness: Harness) -> None:
    primary = harness.tenant.users[PRIMARY]
    primary["user_metadata"] = {"theme": "dark", "beta": True, "plan": "free"}
    commit = await prepared(harness)
    token = continued(harness, commit)
    # Meanwhile an administrator removes a key, changes one and adds one.
    primary["user_metadata"] = {"theme": "dark", "plan": "pro", "support": "gold"}
    answer = await harness.commit(commit, token=token)
    assert answer.json()["status"] == "linked"
    assert primary["user_metadata"] == {
        "theme": "dark",
        "plan": "pro",
        "support": "gold",
        "github": {"handle": "alice"},  # the secondary's key, merged in
    }
    assert patches(harness) == [{"user_metadata": {"github": {"handle": "alice"}}}]


@pytest.mark.parametrize("env_overrides", [{"LINKER_MERGE_APP_METADATA": "true"}])
async def test_a_role_revoked_after_continue_stays_revoked(harness: Harness) -> None:
    primary = harness.tenant.users[PRIMARY]
    primary["app_metadata"] = {"roles": ["admin"], "tenant": "acme"}
    harness.tenant.users[SECONDARY]["app_metadata"] = {"crm_id": 7}
    commit = await prepared(harness)
    token = continued(harness, commit)
    primary["app_metadata"] = {"tenant": "acme"}  # the role is revoked
    assert (await harness.commit(commit, token=token)).json()["status"] == "linked"
    assert primary["app_metadata"] == {"tenant": "acme", "crm_id": 7}


async def test_two_commits_for_one_user_keep_both_results(harness: Harness) -> None:
    """Two tabs: both reach `/continue` before either commits, so both commit tokens carry the
    same profile; the second merge must not put back what the first wrote under a shared key."""
    harness.tenant.users[SECONDARY]["user_metadata"] = {"accounts": {"github": "alice"}}
    harness.tenant.add_user(
        "github|2002", email="alice@example.com", user_metadata={"accounts": {"work": "al"}}
    )
    first = await prepared(harness)
    second = await prepared(harness, "github|2002")
    first_token, second_token = continued(harness, first), continued(harness, second)
    assert (await harness.commit(first, token=first_token)).json()["status"] == "linked"
    assert (await harness.commit(second, token=second_token)).json()["status"] == "linked"
    assert harness.tenant.users[PRIMARY]["user_metadata"] == {
        "theme": "dark",
        "accounts": {"github": "alice", "work": "al"},
    }


async def test_a_merge_waits_for_another_merge_of_the_same_user(harness: Harness) -> None:
    """While another merge holds the user's lock, a commit links and leaves its merge owed;
    the next pass of reconcile writes it, from a fresh read too."""
    store = harness.runtime.attempts.store
    assert await store.put(LOCK_PREFIX + PRIMARY, "another-merge", 60, only_new=True)
    linked = await harness.link()
    assert linked.status == "linked"
    assert harness.tenant.calls["PATCH user"] == 0
    assert harness.tenant.users[PRIMARY]["user_metadata"] == {"theme": "dark"}
    await store.delete(LOCK_PREFIX + PRIMARY)
    report = await harness.reconcile()
    assert report.merged == [PRIMARY]
    assert harness.tenant.users[PRIMARY]["user_metadata"] == {
        "theme": "dark",
        "github": {"handle": "alice"},
    }


async def test_two_merges_at_once_keep_both_results(
    tenant: FakeTenant, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two commits for one user at the same moment: while one reads the primary for its
    merge (the tenant is slow to answer), the other must not read the same old state and
    PATCH over it. It waits for the user's merge lock, or leaves its merge owed; either way
    both results end up in the primary."""

    async def slow_reads(request: httpx.Request) -> httpx.Response:
        response = tenant.handle(request)
        if request.method == "GET" and request.url.path.endswith(PRIMARY):
            await asyncio.sleep(0.05)  # read now, answered later: the other commit runs
        return response

    monkeypatch.setattr(tenant, "transport", lambda: httpx.MockTransport(slow_reads))
    tenant.users[SECONDARY]["user_metadata"] = {"accounts": {"github": "alice"}}
    tenant.add_user(
        "github|2002", email="alice@example.com", user_metadata={"accounts": {"work": "al"}}
    )
    async with running(tenant, clock, make_settings()) as harness:
        first, second = await prepared(harness), await prepared(harness, "github|2002")
        answers = await asyncio.gather(harness.commit(first), harness.commit(second))
        assert [a.json()["status"] for a in answers] == ["linked", "linked"]
        await harness.reconcile()  # a merge left owed is written now
    assert tenant.users[PRIMARY]["user_metadata"]["accounts"] == {"github": "alice", "work": "al"}
