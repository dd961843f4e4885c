"""POST /link/commit: only a commit token the Action signed, for the attempt's own user,
writes; a retry answers the same and writes nothing twice; a link costs at most three
Management API calls."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from linker.state.store import MemoryStore, StoreUnavailable
from tests.support.harness import (
    OLD_SECRET,
    PRIMARY,
    SECONDARY,
    Harness,
    deeply_nested,
    hs256,
    read_resume,
    signed_raw,
)

WRITES = ("POST identities", "PATCH user", "DELETE identities")


def writes(harness: Harness) -> int:
    return sum(harness.tenant.calls[route] for route in WRITES)


def management_calls(harness: Harness) -> int:
    calls = harness.tenant.calls
    return sum(n for route, n in calls.items() if route.split()[1] in ("user", "identities"))


async def prepared(harness: Harness, sub: str = SECONDARY) -> str:
    resumed = read_resume(await harness.link_callback(sub))
    assert resumed.status == "pending", resumed.result
    return resumed.commit


def assert_rejected(response: object) -> None:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_commit_token"


async def test_a_link_costs_at_most_four_management_calls(harness: Harness) -> None:
    assert (await harness.link()).status == "linked"
    # GET secondary, POST identities, GET primary (the merge's fresh read), PATCH primary.
    assert management_calls(harness) == 4
    assert harness.tenant.calls["GET user"] == 2


async def test_a_link_with_nothing_to_merge_costs_two(harness: Harness) -> None:
    harness.tenant.users[SECONDARY]["user_metadata"] = {}
    assert (await harness.link()).status == "linked"
    assert management_calls(harness) == 2
    assert harness.tenant.calls["PATCH user"] == 0


async def test_commit_signed_with_the_previous_secret_is_accepted(harness: Harness) -> None:
    commit = await prepared(harness)
    answer = await harness.commit(commit, secret=OLD_SECRET)
    assert answer.json()["status"] == "linked"


async def test_commit_signed_with_another_secret_is_refused(harness: Harness) -> None:
    commit = await prepared(harness)
    assert_rejected(await harness.commit(commit, secret="x" * 40))
    assert writes(harness) == 0
    assert (await harness.commit(commit)).json()["status"] == "linked"  # the attempt survived


async def test_a_result_token_is_not_a_commit_token(harness: Harness) -> None:
    callback = await harness.link_callback()
    resumed = read_resume(callback)
    assert_rejected(await harness.commit(resumed.commit, token=resumed.session_token))
    start_token = hs256(harness.start_claims())
    assert_rejected(await harness.commit(resumed.commit, token=start_token))
    assert writes(harness) == 0


async def test_a_commit_for_another_user_is_refused_and_the_attempt_kept(
    harness: Harness,
) -> None:
    commit = await prepared(harness)
    assert_rejected(await harness.commit(commit, sub="google-oauth2|mallory"))
    assert writes(harness) == 0
    assert (await harness.commit(commit)).json()["status"] == "linked"


@pytest.mark.parametrize(
    "overrides",
    [
        {"user": None},
        {"user": {"user_metadata": {}}},
        {"user": "alice"},
        {"aud": None},
        {"aud": "linker:result"},
        {"linker_v": 1},
        {"jti": None},
        {"sub": None},
        {"commit": None},
        {"exp": "soon"},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
async def test_commit_tokens_missing_or_wrong_claims_are_refused(
    harness: Harness, overrides: dict[str, object]
) -> None:
    commit = await prepared(harness)
    claims = {**harness.commit_claims(commit), **overrides}
    token = hs256({k: v for k, v in claims.items() if v is not None})
    assert_rejected(await harness.commit(commit, token=token))
    assert writes(harness) == 0


async def test_an_expired_or_long_lived_commit_token_is_refused(harness: Harness) -> None:
    commit = await prepared(harness)
    now = int(harness.clock())
    assert_rejected(await harness.commit(commit, iat=now - 200, exp=now - 100))
    assert_rejected(await harness.commit(commit, exp=now + 61))
    assert writes(harness) == 0


@pytest.mark.parametrize("value", ["NaN", "Infinity"])
async def test_a_commit_token_with_an_impossible_time_is_refused(
    harness: Harness, value: str
) -> None:
    commit = await prepared(harness)
    claims = harness.commit_claims(commit, exp="__TIME__")
    token = signed_raw(json.dumps(claims).replace('"__TIME__"', value))
    assert_rejected(await harness.commit(commit, token=token))


async def test_a_deeply_nested_commit_token_is_refused(harness: Harness) -> None:
    commit = await prepared(harness)
    claims = harness.commit_claims(commit)
    claims["user"]["user_metadata"] = "__DEEP__"
    for depth in (40, 5_000):  # past the merge's limit, and past the JSON parser's
        token = signed_raw(json.dumps(claims).replace('"__DEEP__"', deeply_nested(depth)))
        assert_rejected(await harness.commit(commit, token=token))
    assert writes(harness) == 0


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"commit_token": 1}'])
async def test_a_body_without_a_commit_token_is_refused(harness: Harness, body: bytes) -> None:
    response = await harness.client.post("/link/commit", content=body)
    assert_rejected(response)


async def test_a_replayed_commit_gets_the_same_answer_and_writes_once(harness: Harness) -> None:
    commit = await prepared(harness)
    first = (await harness.commit(commit)).json()
    again = (await harness.commit(commit)).json()
    assert first == again and first["status"] == "linked"
    assert harness.tenant.calls["POST identities"] == 1


async def test_concurrent_commits_write_once(harness: Harness) -> None:
    commit = await prepared(harness)
    answers = await asyncio.gather(*[harness.commit(commit) for _ in range(5)])
    assert {a.json()["status"] for a in answers} == {"linked"}
    assert harness.tenant.calls["POST identities"] == 1


async def test_an_unknown_or_expired_commit_is_transaction_not_found(harness: Harness) -> None:
    answer = (await harness.commit("made-up")).json()
    assert (answer["status"], answer["error"]) == ("failed", "transaction_not_found")
    commit = await prepared(harness)
    harness.clock.now += 121
    answer = (await harness.commit(commit)).json()
    assert answer["error"] == "transaction_not_found"
    assert writes(harness) == 0


async def test_a_secondary_of_another_connection_is_connection_mismatch(
    harness: Harness,
) -> None:
    # The tenant lists the identity under another connection than the one asked for.
    harness.tenant.users[SECONDARY]["identities"][0]["connection"] = "github-enterprise"
    linked = await harness.link()
    assert (linked.status, linked.error) == ("denied", "connection_mismatch")
    assert writes(harness) == 0


async def test_an_account_linked_to_another_user_is_linked_to_another_user(
    harness: Harness,
) -> None:
    # Signing in at GitHub with an identity linked into bob makes the ID token's sub bob's.
    bob = "google-oauth2|bob"
    user = harness.tenant.add_user(bob, email="bob@example.com")
    user["identities"].append({"provider": "github", "user_id": "2002", "connection": "github"})
    linked = await harness.link(sub=bob)
    assert (linked.status, linked.error) == ("denied", "linked_to_another_user")
    assert "already linked to another user" in linked.result["error_description"]
    assert writes(harness) == 0


async def test_a_secondary_that_no_longer_exists_is_identity_conflict(harness: Harness) -> None:
    commit = await prepared(harness)
    del harness.tenant.users[SECONDARY]
    answer = (await harness.commit(commit)).json()
    assert (answer["status"], answer["error"]) == ("denied", "identity_conflict")
    assert writes(harness) == 0


async def test_both_accounts_deleted_since_the_callback_is_identity_conflict(
    harness: Harness,
) -> None:
    commit = await prepared(harness)
    token = hs256(harness.commit_claims(commit))
    del harness.tenant.users[SECONDARY], harness.tenant.users[PRIMARY]
    answer = (await harness.commit(commit, token=token)).json()
    assert (answer["status"], answer["error"]) == ("denied", "identity_conflict")


async def test_already_linked_by_the_time_of_the_commit(harness: Harness) -> None:
    commit = await prepared(harness)
    github = {"provider": "github", "user_id": "1001", "connection": "github"}
    harness.tenant.users[PRIMARY]["identities"].append(github)
    answer = (await harness.commit(commit)).json()
    assert answer["status"] == "already_linked"
    assert writes(harness) == 0


async def test_linked_by_another_tab_since_the_token_was_made_is_already_linked(
    harness: Harness,
) -> None:
    commit = await prepared(harness)
    stale = hs256(harness.commit_claims(commit))  # the profile without GitHub
    # Another tab's commit linked the same account meanwhile: Auth0 deleted its user.
    github = harness.tenant.users.pop(SECONDARY)["identities"][0]
    harness.tenant.users[PRIMARY]["identities"].append(github)
    answer = (await harness.commit(commit, token=stale)).json()
    assert answer["status"] == "already_linked"
    assert writes(harness) == 0


class FailsOverToALaggingReplica(MemoryStore):
    """A primary whose replica saw the writes up to `replicated()`, and nothing after:
    `fail_over()` leaves the store as the replica had it."""

    def replicated(self) -> None:
        self._replica = (
            dict(self._entries),
            {name: list(row) for name, row in self._indexes.items()},
            {name: dict(listing) for name, listing in self._listings.items()},
        )

    def fail_over(self) -> None:
        entries, indexes, listings = self._replica
        self._entries, self._indexes, self._listings = dict(entries), indexes, listings


async def test_a_commit_retried_after_a_failover_lost_its_outcome_answers_the_truth(
    harness: Harness,
) -> None:
    """The failover brought the prepared attempt back, and lost the claim and the outcome;
    the shim's retry must not hear that the account it just linked is gone."""
    store = FailsOverToALaggingReplica(clock=harness.clock)
    harness.use_store(store)
    commit = await prepared(harness)
    token = hs256(harness.commit_claims(commit))
    store.replicated()
    assert (await harness.commit(commit, token=token)).json()["status"] == "linked"
    store.fail_over()
    again = (await harness.commit(commit, token=token)).json()
    assert again["status"] == "already_linked"
    assert harness.tenant.calls["POST identities"] == 1


async def test_an_account_deleted_since_the_callback_is_still_identity_conflict(
    harness: Harness,
) -> None:
    commit = await prepared(harness)
    # Linked into someone else: gone as a user of its own, and not among the primary's.
    bob = harness.tenant.add_user("google-oauth2|bob", email="bob@example.com")
    bob["identities"] += harness.tenant.users.pop(SECONDARY)["identities"]
    answer = (await harness.commit(commit)).json()
    assert (answer["status"], answer["error"]) == ("denied", "identity_conflict")
    assert writes(harness) == 0


async def test_the_merge_is_computed_against_the_profile_at_commit_time(
    harness: Harness,
) -> None:
    commit = await prepared(harness)
    # Between the callback and /continue, the primary's metadata changed: the merge keeps it.
    harness.tenant.users[PRIMARY]["user_metadata"] = {"theme": "dark", "locale": "fr"}
    assert (await harness.commit(commit)).json()["status"] == "linked"
    assert harness.tenant.users[PRIMARY]["user_metadata"] == {
        "theme": "dark",
        "locale": "fr",
        "github": {"handle": "alice"},
    }


class LosesTheFirstClaimAnswer(MemoryStore):
    """The store runs the first claim, and its answer is lost on the way back."""

    lost = 0

    async def claim(self, *args: Any, **kwargs: Any) -> str | None:
        found = await super().claim(*args, **kwargs)
        if not self.lost:
            self.lost += 1
            raise StoreUnavailable("ConnectionError")
        return found


async def test_a_claim_whose_answer_was_lost_is_asked_again_and_links(harness: Harness) -> None:
    """Without asking again, the attempt would stay "in progress" with no one writing it."""
    store = LosesTheFirstClaimAnswer(clock=harness.clock)
    harness.use_store(store)
    done = await harness.link()
    assert store.lost == 1
    assert done.status == "linked"
    linked = {
        f"{i['provider']}|{i['user_id']}" for i in harness.tenant.users[PRIMARY]["identities"]
    }
    assert SECONDARY in linked
