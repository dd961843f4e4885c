"""Suggested linking through the service's public routes, the tenant faked in-process
(docs/protocol.md section 8): the commit's reads and writes, and the bad days."""

from __future__ import annotations

import json
import re
from html import unescape
from typing import Any

import httpx
import pytest

from linker.state.store import MemoryStore, StoreUnavailable
from tests.support.fake_tenant import FakeTenant, status
from tests.support.harness import Harness, commit_claims, hs256, read_resume

CURRENT, OLDER = "github|1005", "auth0|grace"
DATABASE = "Username-Password-Authentication"


def add_grace(tenant: FakeTenant) -> dict[str, Any]:
    """Grace's older database account and her later GitHub sign-up, as the tenant holds them;
    returns the older one."""
    older = tenant.add_user(
        OLDER, email="grace@example.com", connection=DATABASE, user_metadata={"theme": "dark"}
    )
    older["created_at"] = "2024-01-01T00:01:00.000Z"
    current = tenant.add_user(
        CURRENT, email="Grace@Example.com", user_metadata={"theme": "light", "handle": "grace-h"}
    )
    current["created_at"] = "2024-01-01T00:10:00.000Z"
    return older


@pytest.fixture
def grace(harness: Harness) -> Harness:
    add_grace(harness.tenant)
    return harness


def start_token(harness: Harness, **overrides: Any) -> str:
    current = harness.tenant.users[CURRENT]
    user = {k: current[k] for k in ("email", "email_verified", "identities")}
    claims: dict[str, Any] = {
        "sub": CURRENT,
        "action": "suggest",
        "suggest": "suggest",
        "requested_connection": None,
        "id_token_hint": None,
        "user": user,
        **overrides,
    }
    return hs256(harness.start_claims(**claims))


async def offer(harness: Harness, **overrides: Any) -> httpx.Response:
    params = {"session_token": start_token(harness, **overrides), "state": harness.outer_state}
    page = await harness.client.get("/link/suggest", params=params)
    assert page.status_code == 200 and "/link/suggest/choose" in page.text, page.text
    return page


def offer_id(page: httpx.Response) -> str:
    found = re.search(r'name="offer" value="([^"]+)"', page.text)
    assert found is not None
    return unescape(found[1])


async def choose(harness: Harness, page: httpx.Response, candidate: str = "0") -> httpx.Response:
    form = {"offer": offer_id(page), "candidate": candidate}
    return await harness.client.post("/link/suggest/choose", data=form)


async def prepared(harness: Harness, sub: str = OLDER) -> str:
    """Offer, choose, sign in at the nested login as `sub`; returns the commit id."""
    started = await choose(harness, await offer(harness))
    assert started.status_code == 302, started.text
    code = harness.tenant.login(started.headers["location"], sub=sub)
    state = httpx.URL(started.headers["location"]).params["state"]
    resumed = read_resume(await harness.callback(code=code, state=state))
    assert resumed.status == "pending", resumed.result
    return resumed.commit


async def commit_as_current(harness: Harness, commit: str, **overrides: Any) -> dict[str, Any]:
    """The shim's commit: its token's `sub` and `user` are the signed-in (current) user's."""
    current = harness.tenant.users.get(CURRENT, {"user_id": CURRENT, "identities": []})
    claims = commit_claims(now=int(harness.clock()), commit=commit, primary=current, **overrides)
    answer = await harness.client.post("/link/commit", json={"commit_token": hs256(claims)})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_accepting_links_the_current_user_into_the_older_one(grace: Harness) -> None:
    commit = await prepared(grace)
    before = dict(grace.tenant.calls)
    result = await commit_as_current(grace, commit)
    assert result["status"] == "linked" and result["primary"] == OLDER
    assert result["identity"] == {"provider": "github", "user_id": "1005", "connection": "github"}
    assert [i["user_id"] for i in grace.tenant.users[OLDER]["identities"]] == ["grace", "1005"]
    assert CURRENT not in grace.tenant.users
    assert grace.tenant.users[OLDER]["user_metadata"] == {"theme": "dark", "handle": "grace-h"}
    calls = {k: v - before.get(k, 0) for k, v in grace.tenant.calls.items()}
    # Read the candidate and the current user, link, then the merge's fresh read and PATCH
    # (a merge writes only what it changes, from a read made after the link).
    assert {k: v for k, v in calls.items() if v} == {
        "GET user": 3,
        "POST identities": 1,
        "PATCH user": 1,
    }
    # A retried commit answers the same, and writes nothing again.
    assert await commit_as_current(grace, commit) == result
    assert grace.tenant.calls["POST identities"] == 1


async def test_a_merge_that_fails_is_finished_into_the_older_account(grace: Harness) -> None:
    commit = await prepared(grace)
    grace.tenant.fail("PATCH user", *[status(503)] * 1000)
    result = await commit_as_current(grace, commit)
    assert result["status"] == "linked"  # the link is never undone
    grace.tenant.faults.clear()
    report = await grace.reconcile()
    assert report.merged == [OLDER]
    assert grace.tenant.users[OLDER]["user_metadata"] == {"theme": "dark", "handle": "grace-h"}


async def test_a_current_user_with_linked_identities_is_not_linked_away(grace: Harness) -> None:
    commit = await prepared(grace)
    extra = {"provider": "windowslive", "user_id": "g", "connection": "windowslive"}
    current = grace.tenant.users[CURRENT]
    user = {
        "identities": [*current["identities"], extra],
        "user_metadata": {},
        "app_metadata": {},
    }
    result = await commit_as_current(grace, commit, user=user)
    assert (result["status"], result["error"]) == ("denied", "secondary_has_linked_identities")
    assert grace.tenant.calls["POST identities"] == 0


async def test_not_now_writes_only_its_own_key(grace: Harness) -> None:
    page = await offer(grace)
    resumed = read_resume(
        await grace.client.post("/link/suggest/decline", data={"offer": offer_id(page)})
    )
    assert resumed.status == "pending"
    result = await commit_as_current(grace, resumed.commit)
    assert result["status"] == "declined"
    patches = [r for r in grace.tenant.requests if r.method == "PATCH"]
    assert len(patches) == 1
    assert json.loads(patches[0].content) == {
        "app_metadata": {"linker_suggest": {"declined_at": int(grace.clock())}}
    }
    assert grace.tenant.calls["POST identities"] == 0


async def test_require_mode_denies_a_refusal_without_writing(grace: Harness) -> None:
    page = await offer(grace, suggest="require")
    assert "Sign out" in page.text and "Not now" not in page.text
    resumed = read_resume(
        await grace.client.post("/link/suggest/decline", data={"offer": offer_id(page)})
    )
    assert (resumed.status, resumed.error) == ("denied", "link_required")
    assert not [r for r in grace.tenant.requests if r.method != "GET" and "/api/v2/" in str(r.url)]


async def test_a_link_start_token_is_not_a_suggestion(grace: Harness) -> None:
    params = {"session_token": start_token(grace, action="link"), "state": grace.outer_state}
    resumed = read_resume(await grace.client.get("/link/suggest", params=params))
    assert (resumed.status, resumed.error) == ("denied", "invalid_request")
    assert grace.tenant.calls["GET users-by-email"] == 0


async def test_without_pinning_the_same_browser_may_roam(grace: Harness) -> None:
    page = await offer(grace)
    async with grace.browser_at("198.51.100.9") as elsewhere:
        answer = await elsewhere.post(
            "/link/suggest/choose", data={"offer": offer_id(page), "candidate": "0"}
        )
    # Without LINKER_PIN_IP the cookie is what binds the offer: the same browser may roam.
    assert answer.status_code == 302


@pytest.mark.parametrize("env_overrides", [{"LINKER_PIN_IP": "true"}])
async def test_a_pinned_offer_is_refused_from_another_network(grace: Harness) -> None:
    page = await offer(grace)
    async with grace.browser_at("198.51.100.9") as elsewhere:
        answer = await elsewhere.post(
            "/link/suggest/choose", data={"offer": offer_id(page), "candidate": "0"}
        )
    assert answer.status_code == 400 and "ip_mismatch" in answer.text


async def test_a_form_larger_than_ours_is_refused_unread(grace: Harness) -> None:
    page = await offer(grace)
    big = {"offer": offer_id(page), "candidate": "0", "pad": "x" * 5000}
    answer = await grace.client.post("/link/suggest/choose", data=big)
    assert answer.status_code == 413
    # The offer was not spent: the real form still works.
    assert (await choose(grace, page)).status_code == 302


class OffersDown(MemoryStore):
    """A store whose offers cannot be taken (as if Redis went away at that moment)."""

    async def take(self, key: str) -> str | None:
        if key.startswith("offer:"):
            raise StoreUnavailable("ConnectionError")
        return await super().take(key)


async def test_a_store_down_at_the_choice_is_a_retryable_503(grace: Harness) -> None:
    store = OffersDown(clock=grace.clock)
    grace.use_store(store)
    page = await offer(grace)
    answer = await choose(grace, page)
    assert answer.status_code == 503 and "upstream_unavailable" in answer.text
    assert "set-cookie" not in answer.headers  # the offer's cookie stays for a reload


@pytest.mark.parametrize("env_overrides", [{"LINKER_ALLOWED_CLIENT_IDS": "*"}])
async def test_every_application_allowed_is_offered_the_link_too(grace: Harness) -> None:
    assert offer_id(await offer(grace))  # `*` names no application, and allows each


@pytest.mark.parametrize("env_overrides", [{"LINKER_ALLOWED_CLIENT_IDS": "another-app"}])
async def test_an_application_not_allowed_gets_no_offer(grace: Harness) -> None:
    params = {"session_token": start_token(grace), "state": grace.outer_state}
    page = await grace.client.get("/link/suggest", params=params)
    assert "/link/suggest/choose" not in page.text
    assert read_resume(page).error == "client_not_allowed"
