"""The Management API: scopes, the user shape, metadata merge, link and unlink statuses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.devtenant.conftest import Driver, MakeDriver


async def test_tokens_are_checked_before_anything(driver: Driver) -> None:
    missing = await driver.http.get("/api/v2/users/google-oauth2|alice")
    assert missing.status_code == 401
    assert missing.json()["statusCode"] == 401
    garbage = await driver.api("GET", "users/google-oauth2|alice", token="not-a-token")
    assert garbage.status_code == 401
    # A perfectly valid token for another audience (userinfo) is not a Management API token.
    user_token = (await driver.tokens("google-oauth2|alice"))["access_token"]
    assert (
        await driver.api("GET", "users/google-oauth2|alice", token=user_token)
    ).status_code == 401


async def test_an_expired_token_is_401(driver: Driver) -> None:
    token = await driver.management_token()
    driver.clock.advance(86_401)
    response = await driver.api("GET", "users/google-oauth2|alice", token=token)
    assert response.status_code == 401
    assert "Expired" in response.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "needed"),
    [
        ("PATCH", "users/google-oauth2|alice", {"user_metadata": {}}, "update:users"),
        (
            "POST",
            "users/google-oauth2|alice/identities",
            {"provider": "github", "user_id": "1001"},
            "update:users",
        ),
        ("DELETE", "users/google-oauth2|frank/identities/github/1004", None, "update:users"),
    ],
)
async def test_writes_need_update_users(
    driver: Driver, method: str, path: str, body: Any, needed: str
) -> None:
    read_only = await driver.management_token("demo-app")
    response = await driver.api(method, path, token=read_only, json=body)
    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"
    assert response.json()["message"].startswith("Insufficient scope")
    assert needed in response.json()["message"]
    assert (await driver.http.get("/__admin/users/github|1001")).status_code == 200  # untouched


async def test_reads_need_read_users(driver: Driver) -> None:
    update_only = await driver.management_token("linker", scope="update:users")
    response = await driver.api("GET", "users/google-oauth2|alice", token=update_only)
    assert response.status_code == 403
    assert "read:users" in response.json()["message"]


async def test_get_user_in_auth0_shape(driver: Driver) -> None:
    response = await driver.api("GET", "users/google-oauth2%7Cfrank")
    assert response.json() == {
        "user_id": "google-oauth2|frank",
        "email": "frank@example.com",
        "email_verified": True,
        "name": "Frank Linked",
        "identities": [
            {
                "provider": "google-oauth2",
                "user_id": "frank",
                "connection": "google-oauth2",
                "isSocial": True,
            },
            {
                "provider": "github",
                "user_id": "1004",
                "connection": "github",
                "isSocial": True,
                "profileData": {
                    "email": "frank@example.com",
                    "email_verified": True,
                    "name": "frank-gh",
                },
            },
        ],
        "user_metadata": {"preferences": {"language": "fr"}},
        "app_metadata": {},
        "created_at": "2024-01-01T00:07:00.000Z",  # the seed's eighth sign-up
    }
    missing = await driver.api("GET", "users/github|9999")
    assert (missing.status_code, missing.json()["message"]) == (404, "The user does not exist.")


async def test_patch_merges_metadata_at_the_top_level(driver: Driver) -> None:
    response = await driver.api(
        "PATCH",
        "users/google-oauth2|alice",
        json={
            "user_metadata": {"preferences": {"timezone": "UTC"}, "theme": None, "new": 1},
            "app_metadata": {"plan": "pro"},
        },
    )
    assert response.status_code == 200
    body = response.json()
    # Top level only: "preferences" is replaced whole, "theme" deleted by null.
    assert body["user_metadata"] == {"preferences": {"timezone": "UTC"}, "new": 1}
    assert body["app_metadata"] == {"plan": "pro", "roles": ["reader"]}
    cleared = await driver.api("PATCH", "users/google-oauth2|alice", json={"user_metadata": {}})
    assert cleared.json()["user_metadata"] == {}
    bad = await driver.api("PATCH", "users/google-oauth2|alice", json={"identities": []})
    assert bad.status_code == 400 and bad.json()["errorCode"] == "invalid_body"


async def test_link_moves_the_secondary_into_the_primary(driver: Driver) -> None:
    response = await driver.api(
        "POST",
        "users/google-oauth2|alice/identities",
        json={"provider": "github", "user_id": "1001"},
    )
    assert response.status_code == 201
    assert response.json() == [
        {
            "provider": "google-oauth2",
            "user_id": "alice",
            "connection": "google-oauth2",
            "isSocial": True,
        },
        {
            "provider": "github",
            "user_id": "1001",
            "connection": "github",
            "isSocial": True,
            "profileData": {
                "email": "alice@example.com",
                "email_verified": True,
                "name": "alice-codes",
            },
        },
    ]
    gone = await driver.api("GET", "users/github|1001")
    assert gone.status_code == 404
    alice = (await driver.api("GET", "users/google-oauth2|alice")).json()
    # The secondary's metadata is discarded by the link, as Auth0 does.
    assert "github_handle" not in alice["user_metadata"]
    # Signing in with the linked GitHub account now signs in as Alice.
    tokens = await driver.tokens("github|1001", connection="github")
    assert (await driver.verify(tokens["id_token"]))["sub"] == "google-oauth2|alice"


async def test_link_accepts_a_numeric_user_id_and_a_connection_id(driver: Driver) -> None:
    response = await driver.api(
        "POST",
        "users/google-oauth2|alice/identities",
        json={"provider": "github", "user_id": 1001, "connection_id": "con_github"},
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("primary", "body", "status", "message"),
    [
        (
            "google-oauth2|alice",
            {"provider": "google-oauth2", "user_id": "alice"},
            400,
            "Main identity and the new one are the same.",
        ),
        (
            "google-oauth2|alice",
            {"provider": "github", "user_id": "9999"},
            400,
            "Provided secondary account not found.",
        ),
        (
            "google-oauth2|alice",
            {"provider": "github", "user_id": "1001", "connection_id": "con_windowslive"},
            400,
            "Provided secondary account not found.",
        ),
        # Linked into Carol, so no longer a user of its own.
        (
            "google-oauth2|alice",
            {"provider": "windowslive", "user_id": "carol-msa"},
            400,
            "Provided secondary account not found.",
        ),
        (
            "google-oauth2|alice",
            {"provider": "github", "user_id": "1003"},
            400,
            "Unable to link with the secondary account.",
        ),
        (
            "google-oauth2|frank",
            {"provider": "github", "user_id": "1004"},
            409,
            "Specified identity already exists.",
        ),
    ],
)
async def test_link_refusals(
    driver: Driver, primary: str, body: dict[str, Any], status: int, message: str
) -> None:
    response = await driver.api("POST", f"users/{primary}/identities", json=body)
    assert response.status_code == status
    payload = response.json()
    assert (payload["statusCode"], payload["message"]) == (status, message)
    assert set(payload) == {"statusCode", "error", "message", "errorCode"}


async def test_link_payload_validation(driver: Driver) -> None:
    response = await driver.api(
        "POST", "users/google-oauth2|alice/identities", json={"user_id": "1001"}
    )
    assert (response.status_code, response.json()["errorCode"]) == (400, "invalid_body")
    missing = await driver.api(
        "POST", "users/github|9999/identities", json={"provider": "github", "user_id": "1001"}
    )
    assert missing.status_code == 404


async def test_unlink_makes_the_identity_a_user_again(driver: Driver) -> None:
    response = await driver.api("DELETE", "users/google-oauth2|frank/identities/github/1004")
    assert response.status_code == 200
    assert [i["user_id"] for i in response.json()] == ["frank"]
    standalone = (await driver.api("GET", "users/github|1004")).json()
    assert standalone["user_id"] == "github|1004"
    assert standalone["email"] == "frank@example.com"
    assert standalone["name"] == "frank-gh"
    assert standalone["identities"] == [
        {"provider": "github", "user_id": "1004", "connection": "github", "isSocial": True}
    ]
    # Unlinking something not linked changes nothing.
    again = await driver.api("DELETE", "users/google-oauth2|frank/identities/github/1004")
    assert again.status_code == 200 and len(again.json()) == 1


async def test_the_main_identity_cannot_be_removed(driver: Driver) -> None:
    response = await driver.api(
        "DELETE", "users/google-oauth2|frank/identities/google-oauth2/frank"
    )
    assert (response.status_code, response.json()["message"]) == (
        400,
        "Main identity cannot be removed.",
    )


async def test_ids_split_at_the_first_bar_and_are_percent_decoded(
    driver: Driver, make_driver: MakeDriver
) -> None:
    seed = {
        "connections": [
            {"name": "enterprise", "id": "con_e", "strategy": "samlp"},
            {"name": "github", "id": "con_g", "strategy": "github"},
        ],
        "clients": [
            {
                "client_id": "linker",
                "name": "linker",
                "client_secret": driver.SECRETS["linker"],
                "callbacks": [],
                "management_scopes": ["read:users", "update:users"],
            },
        ],
        "users": [
            {
                "user_id": "samlp|corp|a/b",
                "identities": [{"connection": "enterprise", "user_id": "corp|a/b"}],
            },
            {"user_id": "github|x|y", "identities": [{"connection": "github", "user_id": "x|y"}]},
        ],
    }
    response = await driver.http.post("/__admin/seed", json=seed)
    assert response.status_code == 200, response.text
    got = await driver.api("GET", "users/samlp%7Ccorp%7Ca%2Fb")
    assert got.json()["identities"][0]["user_id"] == "corp|a/b"
    linked = await driver.api(
        "POST",
        "users/samlp%7Ccorp%7Ca%2Fb/identities",
        json={"provider": "github", "user_id": "x|y"},
    )
    assert linked.status_code == 201
    unlinked = await driver.api("DELETE", "users/samlp%7Ccorp%7Ca%2Fb/identities/github/x%7Cy")
    assert unlinked.status_code == 200 and len(unlinked.json()) == 1
    assert (await driver.api("GET", "users/github%7Cx%7Cy")).status_code == 200


async def test_unknown_management_routes_are_404(driver: Driver) -> None:
    assert (await driver.api("GET", "clients")).status_code == 404
    assert (await driver.api("GET", "users/google-oauth2|alice/roles")).status_code == 404
