"""linker's OpenID Connect client, through the public routes, against a stricter fake tenant:
UserInfo for missing email claims (OIDC Core 5.4), discovery's issuer (Discovery 4.3), and the
client authentication discovery allows (RFC 6749 2.3.1).

The callback's result is read for the verified secondary identity: with protocol v1 its status
is `linked`, with v2 `pending` (the write happens at the commit); both carry the identity.
"""

from __future__ import annotations

import pytest

from tests.support.fake_tenant import FakeTenant, status
from tests.support.harness import Harness, Resumed, nested_state, read_resume

VERIFIED = {"linked", "pending"}
GITHUB_1001 = {"provider": "github", "user_id": "1001", "connection": "github"}


async def link_with_userinfo(harness: Harness, **userinfo: object) -> Resumed:
    """Link with no email claims in the ID token; UserInfo answers `userinfo` over the user's."""
    started = await harness.start()
    code = harness.tenant.login(
        started.headers["location"], sub="github|1001", email=None, email_verified=None
    )
    access_token = harness.tenant.codes[code].tokens["access_token"]
    harness.tenant.userinfo[access_token].update(userinfo)
    return read_resume(await harness.callback(code=code, state=nested_state(started)))


async def test_email_claims_only_at_userinfo_still_link(harness: Harness) -> None:
    resumed = await link_with_userinfo(harness)
    assert resumed.status in VERIFIED, resumed.result
    assert resumed.result["identity"] == GITHUB_1001
    assert harness.tenant.calls["GET /userinfo"] == 1


async def test_email_claims_in_the_id_token_need_no_userinfo(harness: Harness) -> None:
    resumed = await harness.link()
    assert resumed.status in VERIFIED
    assert harness.tenant.calls["GET /userinfo"] == 0


async def test_userinfo_unverified_email_is_refused(harness: Harness) -> None:
    resumed = await link_with_userinfo(harness, email_verified=False)
    assert (resumed.status, resumed.error) == ("denied", "secondary_email_not_verified")


async def test_userinfo_about_another_sub_is_refused(harness: Harness) -> None:
    resumed = await link_with_userinfo(harness, sub="github|6666")
    assert (resumed.status, resumed.error) == ("denied", "invalid_secondary_token")
    assert harness.tenant.calls["POST identities"] == 0


async def test_userinfo_refusal_is_invalid_secondary_token(harness: Harness) -> None:
    harness.tenant.fail("GET /userinfo", status(401))
    resumed = await link_with_userinfo(harness)
    assert (resumed.status, resumed.error) == ("denied", "invalid_secondary_token")


@pytest.fixture
def wrong_issuer(tenant: FakeTenant) -> FakeTenant:
    tenant.discovered_issuer = "https://other-tenant.test/"
    return tenant


async def test_readyz_reports_an_issuer_mismatch(
    wrong_issuer: FakeTenant, harness: Harness
) -> None:
    response = await harness.client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["keys"] is False
    assert "https://other-tenant.test/" in body["reason"]
    assert "https://tenant.test/" in body["reason"]


async def test_issuer_mismatch_is_not_blamed_on_the_hint(
    wrong_issuer: FakeTenant, harness: Harness
) -> None:
    resumed = read_resume(await harness.start())
    assert (resumed.status, resumed.error) == ("failed", "upstream_unavailable")
    assert "issuer" in resumed.result["error_description"]
    assert harness.tenant.calls["GET /.well-known/jwks.json"] == 0


@pytest.mark.parametrize(
    ("advertised", "expected"),
    [
        (["client_secret_basic", "client_secret_post"], "client_secret_basic"),
        (["client_secret_post"], "client_secret_post"),
        (["client_secret_post", "client_secret_basic"], "client_secret_basic"),
        (None, "client_secret_basic"),  # Discovery's default when the field is absent
    ],
)
async def test_client_authentication_follows_discovery(
    harness: Harness, advertised: list[str] | None, expected: str
) -> None:
    harness.tenant.auth_methods = advertised
    resumed = await harness.link()
    assert resumed.status in VERIFIED, resumed.result
    assert set(harness.tenant.auth_used) == {expected}


async def test_a_client_registered_for_post_is_served_after_one_refusal(
    harness: Harness,
) -> None:
    """Discovery lists both; the client was registered for Post (Auth0's Regular Web App
    default): Basic is refused with invalid_client before the code is spent, Post is tried
    once and then kept."""
    harness.tenant.registered_auth = "client_secret_post"
    first = await harness.link()
    assert first.status in VERIFIED, first.result
    assert harness.tenant.auth_used[:2] == ["client_secret_basic", "client_secret_post"]
    assert harness.tenant.auth_used[2:] == ["client_secret_post"] * (
        len(harness.tenant.auth_used) - 2
    )


async def test_no_usable_client_authentication_fails_the_attempt(harness: Harness) -> None:
    harness.tenant.auth_methods = ["private_key_jwt"]
    resumed = await harness.link()
    assert (resumed.status, resumed.error) == ("failed", "upstream_unavailable")
    assert "client_secret_basic" in resumed.result["error_description"]
    assert harness.tenant.auth_used == []
