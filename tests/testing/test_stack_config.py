"""The stack's configuration: typed clients, users and linker settings become the seed and
settings the stack serves, and a mistake names its field before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linker.devtenant import SeedError, load_seed
from linker.devtenant.cli import build_config, parser
from linker.testing import AppClient, ConfigError, LinkerOptions, StackConfig, TenantSeed
from linker.testing.stack import APP_CALLBACK, stack_env, stack_seed

LINKER_URL = "http://127.0.0.1:4000"
SECRET = "my-app-secret-0123456789-0123456789"


def test_add_user_returns_the_id_and_seeds_the_profile() -> None:
    seed = TenantSeed()
    bob = seed.add_user(connection="github", email="bob@corp.example", email_verified=True)
    assert bob.startswith("github|bob-")
    entry = next(u for u in seed.data()["users"] if u["user_id"] == bob)
    assert (entry["email"], entry["email_verified"]) == ("bob@corp.example", True)
    loaded = load_seed(seed.data())
    user = next(u for u in loaded.users if u.user_id == bob)
    assert user.identities[0].connection == "github" and user.identities[0].profile.email_verified


def test_add_user_with_a_given_id_and_an_identity_already_linked() -> None:
    seed = TenantSeed.empty()
    seed.add_connection("corp-db", strategy="auth0")
    seed.add_connection("gitlab", default_scopes=["read_user"])
    ann = seed.add_user(connection="corp-db", user_id="ann", email="ann@corp.example")
    linked = seed.add_identity(ann, connection="gitlab", user_id="77", email="ann@corp.example")
    assert (ann, linked) == ("auth0|ann", "gitlab|77")
    user = load_seed(seed.data()).users[0]
    assert [i.full_id for i in user.identities] == ["auth0|ann", "gitlab|77"]
    with pytest.raises(ConfigError, match="'auth0\\|ann' exists already"):
        seed.add_user(connection="corp-db", user_id="ann")


def test_an_unknown_connection_is_named() -> None:
    with pytest.raises(ConfigError, match="unknown connection 'gitlub'"):
        TenantSeed().add_user(connection="gitlub", email="x@example.com")


def test_your_clients_go_into_the_seed_beside_linkers_own() -> None:
    config = StackConfig(
        clients=[
            AppClient(
                "my-app",
                secret=SECRET,
                callbacks=["http://localhost:8000/callback"],
                logout_urls=["http://localhost:8000/"],
                grants=["read:users"],
            ),
            AppClient("my-spa", app_type="spa", callbacks=["http://localhost:8001/"]),
        ]
    )
    seed = load_seed(stack_seed(LINKER_URL, config))
    app, spa, linker = seed.client("my-app"), seed.client("my-spa"), seed.client("linker")
    assert app is not None and spa is not None and linker is not None
    assert app.callbacks == ("http://localhost:8000/callback",)
    assert app.allowed_logout_urls == ("http://localhost:8000/",)
    assert (app.client_secret, app.management_scopes) == (SECRET, ("read:users",))
    assert spa.is_public and not app.is_public
    assert linker.callbacks == (f"{LINKER_URL}/link/callback",)
    demo = seed.client("demo-app")
    assert demo is not None and demo.callbacks == (APP_CALLBACK,)  # the bundled seed stays
    assert config.allowed_clients == ("my-app", "my-spa")


def test_linker_settings_come_from_the_options_and_env_wins(tmp_path: Path) -> None:
    config = StackConfig(
        clients=[AppClient("my-app", secret=SECRET, callbacks=["http://localhost:1/cb"])],
        linker=LinkerOptions(
            require_same_email=True,
            env={"LINKER_METADATA_MERGE": "secondary-wins", "LINKER_UPSTREAM_BUDGET": "5"},
        ),
    )
    env = stack_env(config, "http://localhost:3000", LINKER_URL, tmp_path / "audit.jsonl")
    assert env["LINKER_ALLOWED_CLIENT_IDS"] == "my-app"
    assert env["LINKER_REQUIRE_SAME_EMAIL"] == "true"
    assert env["LINKER_METADATA_MERGE"] == "secondary-wins"
    assert env["LINKER_UPSTREAM_BUDGET"] == "5"
    assert env["LINKER_AUTH0_DOMAIN"] == "localhost:3000"
    assert StackConfig().allowed_clients == ("demo-app",)


@pytest.mark.parametrize(
    ("client", "message"),
    [
        (AppClient("web"), "clients\\[web\\].secret: a regular_web client needs a secret"),
        (AppClient("linker", secret=SECRET), "'linker' is the stack's own linker client"),
        (AppClient("x", secret=SECRET, app_type="resource_server"), "clients\\[x\\].app_type"),
    ],
)
def test_a_client_the_stack_cannot_serve_is_named(client: AppClient, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StackConfig(clients=[client]).check()


def test_the_same_configuration_as_a_file(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text(
        json.dumps(
            {
                "clients": [
                    {"client_id": "my-app", "secret": SECRET, "callbacks": ["http://h:1/cb"]}
                ],
                "connections": [{"name": "gitlab"}],
                "users": [{"connection": "gitlab", "email": "g@example.com", "user_id": "9"}],
                "linker": {"require_same_email": True, "env": {"LINKER_SUGGEST": "on"}},
            }
        )
    )
    config = StackConfig.from_file(path)
    assert config.allowed_clients == ("my-app",)
    assert config.linker.require_same_email and config.linker.env == {"LINKER_SUGGEST": "on"}
    assert "gitlab|9" in config.seed.user_ids
    assert "google-oauth2|alice" in config.seed.user_ids  # the bundled seed underneath


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"clientz": []}, "config.clientz: unknown key"),
        ({"clients": [{"secret": "x"}]}, "clients\\[0\\].client_id: required"),
        ({"users": [{"connection": "nope"}]}, "unknown connection 'nope'"),
        ({"linker": {"env": {"PATH": "/bin"}}}, "'PATH' is not a LINKER_\\* setting"),
        ({"seed": "somewhere"}, 'seed: "bundled", "empty" or a seed object'),
        ({"seed": {"users": [{"user_id": "x"}]}}, "seed: users\\[0\\]"),
    ],
)
def test_a_bad_file_names_the_field(tmp_path: Path, data: object, message: str) -> None:
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message):
        StackConfig.from_file(path)


def test_linker_dev_tenant_takes_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text(
        json.dumps(
            {"clients": [{"client_id": "my-app", "secret": SECRET, "callbacks": ["http://h:1/cb"]}]}
        )
    )
    args = parser().parse_args(
        ["--config", str(path), "--linker-url", LINKER_URL, "--action-secret", "s" * 32]
    )
    seed = build_config(args).seed
    mine, linker = seed.client("my-app"), seed.client("linker")
    assert mine is not None and mine.callbacks == ("http://h:1/cb",)
    assert linker is not None and linker.callbacks == (f"{LINKER_URL}/link/callback",)
    path.write_text('{"clients": [{"client_id": "my-app"}]}')
    with pytest.raises(SeedError, match=r"clients\[my-app\]\.secret"):
        build_config(parser().parse_args(["--config", str(path), "--action-secret", "s" * 32]))
