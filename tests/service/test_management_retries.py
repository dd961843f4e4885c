"""The Management API client through the callback: rate limits, outages, unknown outcomes."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.fake_tenant import raise_, status
from tests.support.harness import PRIMARY, SECONDARY, Harness, nested_state, read_resume


async def test_rate_limited_then_success_links_exactly_once(harness: Harness) -> None:
    reset = str(int(harness.clock()) + 3)
    headers = {"x-ratelimit-limit": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    harness.tenant.fail("POST identities", status(429, headers))
    resumed = await harness.link()
    assert resumed.status == "linked"
    assert harness.tenant.calls["POST identities"] == 2
    assert 3.0 <= harness.clock.slept[0] <= 3.25  # waited for the reset, plus jitter
    assert len(harness.tenant.users[PRIMARY]["identities"]) == 2


async def test_retry_after_is_honoured(harness: Harness) -> None:
    harness.tenant.fail("GET user", status(429, {"retry-after": "2"}))
    assert (await harness.link()).status == "linked"
    assert 2.0 <= harness.clock.slept[0] <= 2.25


async def test_server_errors_until_the_budget_runs_out(harness: Harness) -> None:
    harness.tenant.fail("POST identities", *[status(500)] * 100)
    resumed = await harness.link()
    assert (resumed.status, resumed.error) == ("failed", "upstream_unavailable")
    assert sum(harness.clock.slept) <= harness.settings.upstream_budget
    # Each unknown outcome was checked before the next attempt; nothing was linked.
    assert harness.tenant.calls["POST identities"] >= 2
    assert len(harness.tenant.users[PRIMARY]["identities"]) == 1
    # The merge comes after the link: with no link, the metadata was never touched.
    assert harness.tenant.users[PRIMARY]["user_metadata"] == {"theme": "dark"}
    assert harness.tenant.calls["PATCH user"] == 0


async def test_timed_out_post_that_linked_is_recognised(harness: Harness) -> None:
    tenant = harness.tenant

    def link_then_time_out(request: httpx.Request) -> httpx.Response:
        tenant.answer("POST identities", request)  # the tenant did link...
        raise httpx.ReadTimeout("no answer", request=request)  # ...but the answer was lost

    tenant.fail("POST identities", link_then_time_out)
    resumed = await harness.link()
    assert resumed.status == "linked"
    assert tenant.calls["POST identities"] == 1  # never linked twice
    assert [i["user_id"] for i in tenant.users[PRIMARY]["identities"]] == ["alice", "1001"]


async def test_timed_out_post_that_did_not_link_is_retried(harness: Harness) -> None:
    harness.tenant.fail("POST identities", raise_(httpx.ReadTimeout))
    assert (await harness.link()).status == "linked"
    assert harness.tenant.calls["POST identities"] == 2


async def test_connection_refused_is_retried(harness: Harness) -> None:
    harness.tenant.fail("GET user", raise_(httpx.ConnectError))
    assert (await harness.link()).status == "linked"


async def test_conflict_is_identity_conflict(harness: Harness) -> None:
    harness.tenant.fail(
        "POST identities",
        lambda r: httpx.Response(
            409, json={"statusCode": 409, "message": "Specified identity already exists."}
        ),
    )
    resumed = await harness.link()
    assert (resumed.status, resumed.error) == ("denied", "identity_conflict")
    assert harness.tenant.users[PRIMARY]["user_metadata"] == {"theme": "dark"}


async def test_unable_to_link_is_identity_conflict(harness: Harness) -> None:
    harness.tenant.fail(
        "POST identities",
        lambda r: httpx.Response(
            400, json={"statusCode": 400, "message": "Unable to link with the secondary account."}
        ),
    )
    assert (await harness.link()).error == "identity_conflict"


async def test_missing_scope_is_management_api_error(harness: Harness) -> None:
    harness.tenant.fail(
        "POST identities",
        lambda r: httpx.Response(
            403, json={"statusCode": 403, "message": "Insufficient scope, expected: update:users"}
        ),
    )
    resumed = await harness.link()
    assert (resumed.status, resumed.error) == ("failed", "management_api_error")


async def test_refused_client_credentials(harness: Harness) -> None:
    started = await harness.start()
    code = harness.tenant.login(started.headers["location"], sub=SECONDARY)
    harness.tenant.fail(
        "POST /oauth/token",
        harness.tenant.token,  # the code exchange goes through
        lambda r: httpx.Response(401, json={"error": "access_denied"}),  # client credentials
    )
    linked = await harness.finish(await harness.callback(code=code, state=nested_state(started)))
    assert (linked.status, linked.error) == ("failed", "management_api_error")


async def test_management_token_is_cached_between_links(harness: Harness) -> None:
    assert (await harness.link()).status == "linked"
    harness.tenant.add_user("github|2002", email="alice@example.com")
    assert (await harness.link("github|2002")).status == "linked"
    # Two code exchanges and one client-credentials grant.
    assert harness.tenant.calls["POST /oauth/token"] == 3


async def test_revoked_management_token_is_replaced_once(harness: Harness) -> None:
    harness.tenant.fail("GET user", lambda r: httpx.Response(401, json={"statusCode": 401}))
    assert (await harness.link()).status == "linked"


@pytest.mark.parametrize("env_overrides", [{"LINKER_UPSTREAM_BUDGET": "1"}])
async def test_tenant_down_during_code_exchange(harness: Harness) -> None:
    started = await harness.start()
    code = harness.tenant.login(started.headers["location"], sub=SECONDARY)
    harness.tenant.fail("POST /oauth/token", *[raise_(httpx.ConnectError)] * 50)
    resumed = read_resume(await harness.callback(code=code, state=nested_state(started)))
    assert (resumed.status, resumed.error) == ("failed", "upstream_unavailable")


async def test_a_lost_post_that_lands_after_the_settling_read_is_linked(harness: Harness) -> None:
    """The first POST's answer is lost and the read says "not linked" yet; it lands just
    after, so the resend is refused as a conflict. The link is the first POST's: `linked`,
    with the merge, not `denied`."""
    tenant = harness.tenant
    lost: list[httpx.Request] = []

    def slow_to_apply(request: httpx.Request) -> httpx.Response:
        lost.append(request)
        raise httpx.ReadTimeout("no answer", request=request)

    def read_then_land(request: httpx.Request) -> httpx.Response:
        before = tenant.answer("GET user", request)
        tenant.answer("POST identities", lost[0])
        return before

    tenant.fail("POST identities", slow_to_apply)
    tenant.fail("GET user", lambda request: tenant.answer("GET user", request), read_then_land)
    resumed = await harness.link()
    assert (resumed.status, resumed.error) == ("linked", None)
    assert tenant.calls["POST identities"] == 2
    assert tenant.users[PRIMARY]["user_metadata"]["github"] == {"handle": "alice"}


@pytest.mark.parametrize("code", [501, 505, 507, 520, 522, 524])
async def test_any_server_error_after_a_link_is_settled_by_reading(
    harness: Harness, code: int
) -> None:
    """A CDN's 52x or a 501 is a fault like a 503: the link it answered may have applied, so
    the primary is read; the link is there, so `linked`, with its merge."""
    tenant = harness.tenant

    def link_then_fail(request: httpx.Request) -> httpx.Response:
        tenant.answer("POST identities", request)
        return httpx.Response(code, text="origin timed out")

    tenant.fail("POST identities", link_then_fail)
    resumed = await harness.link()
    assert (resumed.status, resumed.error) == ("linked", None)
    assert tenant.calls["POST identities"] == 1
    assert tenant.users[PRIMARY]["user_metadata"]["github"] == {"handle": "alice"}


async def test_a_read_answered_520_is_retried(harness: Harness) -> None:
    harness.tenant.fail("GET user", status(520))
    assert (await harness.link()).status == "linked"
    assert harness.tenant.calls["GET user"] >= 3  # the 520, then the secondary and the primary


@pytest.mark.parametrize("code", [501, 520, 524])
async def test_a_server_error_at_the_code_exchange_is_try_again(
    harness: Harness, code: int
) -> None:
    """Never resent (a code is single-use), and never the user's fault."""
    harness.tenant.fail("POST /oauth/token", status(code))
    resumed = await harness.link()
    assert (resumed.status, resumed.error) == ("failed", "upstream_unavailable")


async def test_the_callbacks_calls_share_one_budget(harness: Harness) -> None:
    """The code exchange and UserInfo each asked to wait 8 s: together past the step's 10 s
    budget, so the second wait is not taken, and the step ends within its budget."""
    started = await harness.start()
    code = harness.tenant.login(
        started.headers["location"], sub=SECONDARY, email=None, email_verified=None
    )
    harness.tenant.fail("POST /oauth/token", status(429, {"retry-after": "8"}))
    harness.tenant.fail("GET /userinfo", status(429, {"retry-after": "8"}))
    before = harness.clock()
    resumed = read_resume(await harness.callback(code=code, state=nested_state(started)))
    assert harness.clock() - before <= harness.settings.upstream_budget
    assert (resumed.status, resumed.error) == ("failed", "upstream_unavailable")


async def test_a_2xx_to_the_link_is_done_whatever_its_body(harness: Harness) -> None:
    """The tenant linked and said so (201) with a body that is no identity list: done, with
    no read to learn what it already said, and the merge follows."""
    tenant = harness.tenant

    def linked_with_a_page(request: httpx.Request) -> httpx.Response:
        tenant.answer("POST identities", request)
        return httpx.Response(201, content=b"<html>created</html>")

    tenant.fail("POST identities", linked_with_a_page)
    resumed = await harness.link()
    assert (resumed.status, resumed.error) == ("linked", None)
    assert tenant.calls["GET user"] == 2  # the secondary, and the primary for the merge
    assert tenant.users[PRIMARY]["user_metadata"]["github"] == {"handle": "alice"}


async def test_the_secondary_linked_into_another_user_meanwhile_is_a_conflict(
    harness: Harness,
) -> None:
    """Alice's commit read the other account as a user of its own; before its POST lands,
    another replica links it into Bob, and the tenant answers "Provided secondary account
    not found.": a refusal (`identity_conflict`), not a fault to retry."""
    tenant = harness.tenant
    bob = "google-oauth2|bob"
    tenant.add_user(bob, email="bob@example.com")
    resumed = read_resume(await harness.link_callback())

    def bob_first(request: httpx.Request) -> httpx.Response:
        body = json.dumps({"provider": "github", "user_id": "1001"}).encode()
        url = f"{tenant.base_url}/api/v2/users/{bob}/identities"
        bobs = httpx.Request("POST", url, headers=request.headers, content=body)
        assert tenant.answer("POST identities", bobs).status_code == 201
        return tenant.answer("POST identities", request)

    tenant.fail("POST identities", bob_first)
    answer = (await harness.commit(resumed.commit)).json()
    assert (answer["status"], answer["error"]) == ("denied", "identity_conflict")
    assert tenant.users[PRIMARY]["user_metadata"] == {"theme": "dark"}  # nothing merged


async def test_two_tabs_committing_one_link_at_once_both_end_linked(harness: Harness) -> None:
    """Tab B's commit read the secondary just before tab A's POST landed; its own POST is
    answered 409. The primary, read then, holds the identity: linked, not a denial."""
    tenant = harness.tenant
    resumed = read_resume(await harness.link_callback())

    def other_tab_first(request: httpx.Request) -> httpx.Response:
        assert tenant.answer("POST identities", request).status_code == 201  # tab A's
        return tenant.answer("POST identities", request)  # this tab's: 409

    tenant.fail("POST identities", other_tab_first)
    answer = (await harness.commit(resumed.commit)).json()
    assert (answer["status"], answer["error"]) == ("linked", None)
    assert [i["user_id"] for i in tenant.users[PRIMARY]["identities"]] == ["alice", "1001"]
