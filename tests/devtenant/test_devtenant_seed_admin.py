"""The seed (bundled and custom), the admin surface, and the `linker dev-tenant` command."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from linker.devtenant import SeedError, create_dev_tenant, default_seed, load_seed
from linker.devtenant.cli import build_config, main, parser
from tests.devtenant.conftest import Driver, MakeDriver


def test_the_bundled_seed_covers_the_flows() -> None:
    seed = default_seed(app_callback="http://app/cb", linker_callback="http://linker/link/callback")
    assert [c.name for c in seed.connections] == [
        "Username-Password-Authentication",
        "google-oauth2",
        "github",
        "windowslive",
        "slack",
        "github-vault",
    ]
    purposes = {c.name: sorted(c.purposes) for c in seed.connections}
    assert purposes["github-vault"] == ["connected_accounts"]
    assert purposes["google-oauth2"] == purposes["github"] == ["authentication"]
    assert purposes["windowslive"] == ["authentication", "connected_accounts"]
    assert purposes["slack"] == ["connected_accounts"]
    assert seed.settings.token_vault_not_found_error == "tokenset_not_found"
    clients = {c.client_id: c for c in seed.clients}
    assert clients["agent-api"].resource_server_identifier == "urn:linker:agent-api"
    assert clients["partner-app"].is_first_party is False
    assert clients["demo-app"].callbacks == ("http://app/cb",)
    assert clients["demo-app"].management_scopes == ("read:users",)
    assert clients["linker"].callbacks == ("http://linker/link/callback",)
    assert clients["linker"].management_scopes == ("read:users", "update:users", "read:clients")
    users = {u.user_id: u for u in seed.users}
    assert users["google-oauth2|alice"].identities[0].profile.email_verified
    assert users["github|1001"].identities[0].profile.email == "alice@example.com"
    assert not users["github|1002"].identities[0].profile.email_verified
    assert len(users["github|1003"].identities) == 2
    assert users["auth0|dave"].identities[0].provider == "auth0"
    assert not users["auth0|dave"].identities[0].is_social
    assert "windowslive|erin" in users
    assert all(u.comment for u in seed.users)
    assert "secret" not in repr(clients["linker"]).lower().replace("client_secret", "")


def seed_with(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "connections": [{"name": "github", "id": "con_g", "strategy": "github"}],
        "clients": [{"client_id": "c", "name": "C", "client_secret": "s", "callbacks": []}],
        "users": [
            {"user_id": "github|1", "identities": [{"connection": "github", "user_id": "1"}]}
        ],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            seed_with(
                users=[
                    {
                        "user_id": "github|1",
                        "identities": [{"connection": "gitlab", "user_id": "1"}],
                    }
                ]
            ),
            "users[0].identities[0].connection: unknown connection 'gitlab'",
        ),
        (
            seed_with(
                users=[
                    {
                        "user_id": "github|2",
                        "identities": [{"connection": "github", "user_id": "1"}],
                    }
                ]
            ),
            "users[0].user_id: 'github|2' must be the first identity",
        ),
        (
            seed_with(users=[{"user_id": "github|1", "identities": []}]),
            "users[0].identities: a user needs at least one identity",
        ),
        (
            seed_with(clients=[{"client_id": "c", "name": "C", "callbacks": []}]),
            "clients[0].client_secret: expected a non-empty string",
        ),
        (
            seed_with(
                users=[
                    {
                        "user_id": "github|1",
                        "identities": [{"connection": "github", "user_id": "1"}],
                    },
                    {
                        "user_id": "github|1",
                        "identities": [{"connection": "github", "user_id": "1"}],
                    },
                ]
            ),
            "users: duplicate identity 'github|1'",
        ),
        (
            seed_with(
                users=[
                    {
                        "user_id": "github|1",
                        "email_verified": "yes",
                        "identities": [{"connection": "github", "user_id": "1"}],
                    }
                ]
            ),
            "users[0].email_verified: expected true or false",
        ),
        (seed_with(connections="github"), "seed.connections: expected a list"),
    ],
)
def test_bad_seeds_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(SeedError) as caught:
        load_seed(data)
    assert message in str(caught.value)


def test_load_seed_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed_with()))
    assert load_seed(path).users[0].user_id == "github|1"
    path.write_text("{not json")
    with pytest.raises(SeedError, match="cannot read seed"):
        load_seed(path)


async def test_reset_returns_to_the_seed(driver: Driver) -> None:
    await driver.api(
        "POST",
        "users/google-oauth2|alice/identities",
        json={"provider": "github", "user_id": "1001"},
    )
    await driver.http.post("/__admin/faults", json={"kind": "status", "path": "^/nothing$"})
    assert (await driver.http.get("/__admin/users/github|1001")).status_code == 404
    assert (await driver.http.post("/__admin/reset")).status_code == 200
    assert (await driver.http.get("/__admin/users/github|1001")).status_code == 200
    assert (await driver.http.get("/__admin/faults")).json() == {"faults": []}
    assert (await driver.http.get("/__admin/requests")).json()["count"] == 0


async def test_admin_users_show_granted_scopes_and_factors(driver: Driver) -> None:
    frank = (await driver.http.get("/__admin/users/google-oauth2%7Cfrank")).json()
    assert frank["identities"][1]["granted_scopes"] == ["read:user", "repo", "user:email"]
    dave = (await driver.http.get("/__admin/users/auth0|dave")).json()
    assert dave["enrolled_factors"] == ["otp"]
    assert dave["app_metadata"]["billing"] == {"customer": "cus_123", "tier": "gold"}
    everyone = (await driver.http.get("/__admin/users")).json()["users"]
    assert len(everyone) == 11  # with the suggested-linking trio (grace)


async def test_admin_seed_replaces_or_refuses(driver: Driver) -> None:
    bad = await driver.http.post("/__admin/seed", json={"users": [{"user_id": "x"}]})
    assert bad.status_code == 400
    assert "users[0]" in bad.json()["error_description"]
    ok = await driver.http.post("/__admin/seed", json=seed_with())
    assert ok.json()["users"] == ["github|1"]
    assert (await driver.http.get("/__admin/users/google-oauth2|alice")).status_code == 404


async def test_admin_adds_a_user_for_one_reset(driver: Driver) -> None:
    added = await driver.http.post(
        "/__admin/users",
        json={"connection": "github", "email": "gh@example.com", "email_verified": True},
    )
    assert added.status_code == 201, added.text
    user_id = added.json()["user_id"]
    assert user_id.startswith("github|")
    shown = (await driver.http.get(f"/__admin/users/{user_id}")).json()
    assert (shown["email"], shown["email_verified"]) == ("gh@example.com", True)
    assert "code=" in await driver.sign_in(user_id)  # the login page offers the account
    named = await driver.http.post(
        "/__admin/users", json={"connection": "Username-Password-Authentication", "user_id": "x"}
    )
    assert named.json() == {"user_id": "auth0|x"}
    again = await driver.http.post(
        "/__admin/users", json={"connection": "Username-Password-Authentication", "user_id": "x"}
    )
    assert again.status_code == 400
    assert "'auth0|x' exists already" in again.json()["error_description"]
    assert (await driver.http.post("/__admin/reset")).status_code == 200
    assert (await driver.http.get(f"/__admin/users/{user_id}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"connection": "gitlub"}, "user.connection: unknown connection 'gitlub'"),
        ({"connection": "github", "emial": "x"}, "user.emial: unknown field"),
        ({"connection": "github", "email_verified": "yes"}, "user.email_verified"),
        ({"connection": "github", "password": "pw"}, "user.password"),
        ([], "the user must be a JSON object"),
    ],
)
async def test_admin_add_user_names_the_bad_field(driver: Driver, body: Any, named: str) -> None:
    refused = await driver.http.post("/__admin/users", json=body)
    assert refused.status_code == 400
    assert named in refused.json()["error_description"]


async def test_admin_clock_moves_time(driver: Driver) -> None:
    response = await driver.http.post("/__admin/clock", json={"advance": 61})
    assert response.json()["now"] == driver.clock() + 61
    assert (await driver.http.post("/__admin/clock", json={"advance": "x"})).status_code == 400


async def test_admin_is_absent_unless_asked(make_driver: MakeDriver) -> None:
    async with make_driver(admin=False) as d:
        assert (await d.http.post("/__admin/reset")).status_code == 404


def test_cli_builds_the_config_from_flags(tmp_path: Path) -> None:
    args = parser().parse_args(
        [
            "--port",
            "8799",
            "--linker-url",
            "http://127.0.0.1:9000/",
            "--action-secret",
            "s" * 32,
            "--linker-client-id",
            "linker",
            "--admin",
        ]
    )
    config = build_config(args)
    assert config.base_url == "http://127.0.0.1:8799"
    assert config.admin
    assert dict(config.action_secrets) == {
        "LINKER_URL": "http://127.0.0.1:9000",
        "LINKER_ACTION_SECRET": "s" * 32,
        "LINKER_CLIENT_ID": "linker",
    }
    linker = config.seed.client("linker")
    assert linker is not None and linker.callbacks == ("http://127.0.0.1:9000/link/callback",)
    assert "s" * 32 not in repr(config)
    create_dev_tenant(config)  # the shipped shim is found


def test_cli_refuses_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LINKER_ACTION_SECRET", raising=False)
    assert main([]) == 2
    assert "--action-secret" in capsys.readouterr().err
    bad = tmp_path / "seed.json"
    bad.write_text("[]")
    assert main(["--action-secret", "x" * 32, "--seed", str(bad)]) == 2
    assert "expected a JSON object" in capsys.readouterr().err
    assert main(["--port", "nope"]) == 2
    assert main(["--help"]) == 0


CLIENT = {"client_id": "c", "name": "C", "client_secret": "s", "callbacks": []}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            seed_with(
                connections=[
                    {"name": "github", "id": "g", "strategy": "github", "purposes": ["login"]}
                ]
            ),
            "connections[0].purposes: each is one of",
        ),
        (
            seed_with(
                connections=[
                    {"name": "github", "id": "g", "strategy": "github"},
                    {
                        "name": "db",
                        "id": "d",
                        "strategy": "auth0",
                        "purposes": ["connected_accounts"],
                    },
                ]
            ),
            "connections[1].purposes: a database connection has no connected accounts",
        ),
        (seed_with(clients=[{**CLIENT, "app_type": "robot"}]), "clients[0].app_type: one of"),
        (
            seed_with(clients=[{**CLIENT, "app_type": "resource_server"}]),
            "clients[0].resource_server_identifier: required with app_type resource_server",
        ),
        (
            seed_with(
                clients=[
                    {
                        **CLIENT,
                        "app_type": "resource_server",
                        "resource_server_identifier": "urn:none",
                    }
                ]
            ),
            "clients[0].resource_server_identifier: unknown API 'urn:none'",
        ),
        (
            seed_with(settings={"token_vault_not_found_error": "nope"}),
            "settings.token_vault_not_found_error: one of",
        ),
        (
            seed_with(settings={"management_rate_limit": 0}),
            "settings.management_rate_limit: expected a positive integer",
        ),
        (
            seed_with(
                users=[
                    {
                        "user_id": "github|1",
                        "identities": [{"connection": "github", "user_id": "1"}],
                        "connected_accounts": [{"connection": "github"}],
                    }
                ]
            ),
            "users[0].connected_accounts[0].connection: 'github' has no Connected Accounts",
        ),
    ],
)
def test_fidelity_fields_of_the_seed_are_validated(data: dict[str, Any], message: str) -> None:
    with pytest.raises(SeedError, match=re.escape(message)):
        load_seed(data)


async def test_admin_settings_are_validated_like_the_seed(driver: Driver) -> None:
    unknown = await driver.http.post("/__admin/settings", json={"colour": "blue"})
    assert unknown.status_code == 400
    changed = await driver.http.post("/__admin/settings", json={"management_rate_limit": 3})
    assert changed.json()["management_rate_limit"] == 3
    token = await driver.management_token()
    answer = await driver.api("GET", "users/google-oauth2|alice", token=token)
    assert answer.headers["x-ratelimit-limit"] == "3"
