"""A tenant answer that is not what was asked is a fault, through the public routes.

A 200 to a user read whose body is a proxy's page, a truncated body, another user or JSON
nested past the parser's depth is never read as a user with no identities and no metadata:
that would settle a lost unlink as done, refuse a secondary as gone, or merge a secondary's
metadata into an empty primary. The step answers `failed` (or, after the link, `linked` with
the merge owed), never `denied`, never a 500. Likewise a token lifetime, a time claim or
an error text past reason, and a configuration that names endpoints off the tenant's origin.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.service.test_unlink import unlink
from tests.support.fake_tenant import MANAGEMENT_TOKEN, raise_
from tests.support.harness import PRIMARY, SECONDARY, Harness, read_resume


def html_page(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"<html>upstream hiccup</html>")


def nested_past_the_parser(user: dict[str, Any]) -> httpx.Response:
    """`user` with metadata nested 5,000 deep: valid JSON that `json.loads` cannot read."""
    deep = "[" * 5000 + "]" * 5000
    body = json.dumps(user)[:-1] + f', "user_metadata": {{"deep": {deep}}}}}'
    return httpx.Response(200, content=body.encode())


def as_itself(harness: Harness) -> Any:
    return lambda request: harness.tenant.answer("GET user", request)


async def test_a_page_for_the_secondary_read_fails_the_commit(harness: Harness) -> None:
    resumed = read_resume(await harness.link_callback())
    harness.tenant.fail("GET user", html_page)
    answer = (await harness.commit(resumed.commit)).json()
    assert (answer["status"], answer["error"]) == ("failed", "management_api_error")
    assert harness.tenant.calls["POST identities"] == 0


async def test_another_users_answer_to_the_secondary_read_fails_the_commit(
    harness: Harness,
) -> None:
    alice = harness.tenant.users[PRIMARY]
    harness.tenant.fail("GET user", lambda request: httpx.Response(200, json=alice))
    resumed = read_resume(await harness.link_callback())
    answer = (await harness.commit(resumed.commit)).json()
    assert answer["status"] == "failed"
    assert harness.tenant.calls["POST identities"] == 0


async def test_a_secondary_read_nested_past_the_parser_fails_the_commit(harness: Harness) -> None:
    secondary = harness.tenant.users[SECONDARY]
    harness.tenant.fail("GET user", lambda request: nested_past_the_parser(secondary))
    resumed = read_resume(await harness.link_callback())
    answer = await harness.commit(resumed.commit)
    assert answer.status_code == 200
    assert answer.json()["status"] == "failed"
    assert harness.tenant.calls["POST identities"] == 0


async def test_a_page_for_the_merges_read_of_the_primary_keeps_its_metadata(
    harness: Harness,
) -> None:
    """The link is written; the merge's fresh read of the primary is junk: the merge waits
    (primary-wins keeps Alice's dark theme over GitHub's light) and is done by reconcile."""
    tenant = harness.tenant
    resumed = read_resume(await harness.link_callback())
    tenant.fail("GET user", as_itself(harness), html_page)
    answer = (await harness.commit(resumed.commit)).json()
    assert answer["status"] == "linked"
    assert tenant.calls["PATCH user"] == 0
    assert tenant.users[PRIMARY]["user_metadata"] == {"theme": "dark"}
    harness.clock.advance(200)  # the commit's outcome key has expired
    report = await harness.reconcile()
    assert report.merged == [PRIMARY]
    assert tenant.users[PRIMARY]["user_metadata"]["theme"] == "dark"
    assert tenant.users[PRIMARY]["user_metadata"]["github"] == {"handle": "alice"}


async def test_a_merges_read_nested_past_the_parser_after_the_link(harness: Harness) -> None:
    tenant = harness.tenant
    resumed = read_resume(await harness.link_callback())
    primary = tenant.users[PRIMARY]
    tenant.fail("GET user", as_itself(harness), lambda request: nested_past_the_parser(primary))
    answer = await harness.commit(resumed.commit)
    assert answer.status_code == 200
    assert answer.json()["status"] == "linked"
    assert await harness.runtime.attempts.outcome(resumed.commit) not in (None, "in_progress")
    # Reconcile meets the same answer: the item stays pending, the pass goes on.
    harness.clock.advance(200)
    tenant.fail("GET user", lambda request: nested_past_the_parser(tenant.users[PRIMARY]))
    report = await harness.reconcile()
    assert report.pending == 1


async def test_a_lost_unlink_settled_by_a_page_is_not_reported_unlinked(harness: Harness) -> None:
    """The DELETE never reached the tenant and the read that settles it is junk: whether the
    identity is gone is unknown, and "unlinked" would be untrue."""
    harness.tenant.fail("DELETE identities", raise_(httpx.ReadTimeout))
    harness.tenant.fail("GET user", html_page)
    resumed = await unlink(harness)
    assert (resumed.status, resumed.error) == ("failed", "outcome_unknown")
    identities = [i["user_id"] for i in harness.tenant.users[PRIMARY]["identities"]]
    assert identities == ["alice", "1001"]


def management_token(expires_in: str) -> httpx.Response:
    body = f'{{"access_token": "{MANAGEMENT_TOKEN}", "expires_in": {expires_in}}}'
    return httpx.Response(200, content=body.encode())


@pytest.mark.parametrize("expires_in", ["Infinity", "NaN", "1e999", "-5", "true", '"86400"'])
async def test_any_token_lifetime_the_tenant_states_leaves_the_commit_whole(
    harness: Harness, expires_in: str
) -> None:
    """`expires_in` is read as a finite number of seconds within 30 days (0 otherwise: the
    token serves this commit only); an infinite one reached the store's TTL as a 500."""
    tenant = harness.tenant
    resumed = read_resume(await harness.link_callback())  # the code exchange is done
    tenant.fail("POST /oauth/token", lambda request: management_token(expires_in))
    answer = await harness.commit(resumed.commit)
    assert answer.status_code == 200 and answer.json()["status"] == "linked"


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "auth_time"])
async def test_an_id_token_time_past_any_float_is_refused(harness: Harness, claim: str) -> None:
    """Signed by the tenant, an integer of 400 digits: a refusal, not an OverflowError."""
    huge: dict[str, Any] = {claim: 10**400}
    resumed = read_resume(await harness.link_callback(SECONDARY, **huge))
    assert (resumed.status, resumed.error) == ("denied", "invalid_secondary_token")


async def test_a_hint_time_past_any_float_is_refused(harness: Harness) -> None:
    hint = harness.tenant.id_token(sub=PRIMARY, iat=10**400)
    resumed = read_resume(await harness.start(id_token_hint=hint))
    assert (resumed.status, resumed.error) == ("denied", "invalid_id_token_hint")


async def test_the_token_endpoints_error_is_cut_and_cleaned(harness: Harness) -> None:
    noisy = "invalid_grant\r\n\x00\x1b[31m" + "y" * 5000
    harness.tenant.fail(
        "POST /oauth/token", lambda request: httpx.Response(400, json={"error": noisy})
    )
    resumed = read_resume(await harness.link_callback())
    assert resumed.error == "invalid_secondary_token"
    description = resumed.result["error_description"]
    assert len(description) <= 300 and not any(c in description for c in "\r\n\x00\x1b")


@pytest.mark.parametrize(
    "endpoint", ["http://tenant.example.com/oauth/token", "https://collector.example/oauth/token"]
)
async def test_a_configuration_cannot_send_the_secret_off_the_tenants_origin(
    harness: Harness, endpoint: str
) -> None:
    tenant = harness.tenant
    harness.runtime.tenant._discovery = None  # read afresh, as after a restart

    def configuration(request: httpx.Request) -> httpx.Response:
        document = tenant.answer("GET /.well-known/openid-configuration", request).json()
        return httpx.Response(200, json={**document, "token_endpoint": endpoint})

    tenant.fail("GET /.well-known/openid-configuration", configuration)
    resumed = read_resume(await harness.link_callback())
    assert (resumed.status, resumed.error) == ("failed", "upstream_unavailable")
    assert all(str(r.url).startswith(tenant.base_url + "/") for r in tenant.requests)
