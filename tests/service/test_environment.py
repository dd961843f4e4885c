"""Where settings come from: `.env` (python-dotenv's syntax) and `*_FILE` secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from linker.environment import read_dotenv, resolve_secret_files
from linker.settings import Settings, SettingsError
from tests.support.harness import PUBLIC_URL, SECRET, settings_env


def test_dotenv_inline_comments_are_not_part_of_the_value(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "LINKER_PUBLIC_URL=https://linker.example.com  # the external URL\n"
        "LINKER_TXN_TTL=30 # seconds\n"
        'LINKER_CLIENT_ID="app#1"  # a quoted hash stays\n'
        "LINKER_ALLOWED_CLIENT_IDS=\n"
    )
    assert read_dotenv(path) == {
        "LINKER_PUBLIC_URL": "https://linker.example.com",
        "LINKER_TXN_TTL": "30",
        "LINKER_CLIENT_ID": "app#1",
        "LINKER_ALLOWED_CLIENT_IDS": "",
    }


def test_dotenv_values_reach_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LINKER_"):
            monkeypatch.delenv(name)
    lines = [f"{k}={v}  # comment" for k, v in settings_env(LINKER_TXN_TTL="45").items()]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    settings = Settings.from_env(Settings.environment(tmp_path / ".env"))
    assert settings.txn_ttl == 45
    assert settings.public_url == PUBLIC_URL


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("LINKER_CLIENT_SECRET", "client_secret"),
        ("LINKER_ACTION_SECRETS", "action_secrets"),
        ("LINKER_STORE_URL", "store_url"),
    ],
)
def test_secret_files_are_read(tmp_path: Path, name: str, field: str) -> None:
    value = {
        "LINKER_CLIENT_SECRET": "client-secret-from-a-file",
        "LINKER_ACTION_SECRETS": "s" * 40,
        "LINKER_STORE_URL": "redis://:pw@redis:6379/0",
    }[name]
    secret_file = tmp_path / "secret"
    secret_file.write_text(value + "\n")  # as secret stores write them
    env = settings_env(**{f"{name}_FILE": str(secret_file)})
    env.pop(name, None)
    settings = Settings.from_env(env)
    read = getattr(settings, field)
    revealed = [s.reveal() for s in read] if isinstance(read, tuple) else [read.reveal()]
    assert revealed == [value]


def test_a_setting_and_its_file_at_once_is_an_error(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("other-secret")
    env = settings_env(LINKER_CLIENT_SECRET_FILE=str(secret_file))
    assert env["LINKER_CLIENT_SECRET"]
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert caught.value.name == "LINKER_CLIENT_SECRET"
    assert "LINKER_CLIENT_SECRET_FILE, not both" in str(caught.value)


def test_an_unreadable_secret_file_is_named_without_its_content(tmp_path: Path) -> None:
    env = settings_env(LINKER_ACTION_SECRETS_FILE=str(tmp_path / "missing"))
    del env["LINKER_ACTION_SECRETS"]
    problems = Settings.problems(env)
    assert [p.name for p in problems] == ["LINKER_ACTION_SECRETS_FILE", "LINKER_ACTION_SECRETS"]
    assert "cannot read" in str(problems[0]) and SECRET not in str(problems[0])


def test_resolving_leaves_other_variables_alone() -> None:
    env, problems = resolve_secret_files({"LINKER_PIN_IP": "true", "HOME": "/root"})
    assert env == {"LINKER_PIN_IP": "true", "HOME": "/root"} and problems == []


@pytest.mark.parametrize("value", ["not-an-ip", "10.0.0.1,proxy.internal", "10.0.0.0/33"])
def test_trusted_proxies_must_be_addresses(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(settings_env(LINKER_TRUSTED_PROXIES=value))
    assert caught.value.name == "LINKER_TRUSTED_PROXIES"
    assert "is not an IP address, a CIDR range or *" in str(caught.value)


def test_trusted_proxies_accept_addresses_ranges_and_star() -> None:
    settings = Settings.from_env(
        settings_env(LINKER_TRUSTED_PROXIES="10.0.0.1, 192.168.0.0/16,::1,*")
    )
    assert settings.trusted_proxies == {"10.0.0.1", "192.168.0.0/16", "::1", "*"}


def test_max_pending_per_user() -> None:
    assert Settings.from_env(settings_env()).max_pending_per_user == 5
    assert (
        Settings.from_env(settings_env(LINKER_MAX_PENDING_PER_USER="2")).max_pending_per_user == 2
    )
    with pytest.raises(SettingsError, match="LINKER_MAX_PENDING_PER_USER"):
        Settings.from_env(settings_env(LINKER_MAX_PENDING_PER_USER="0"))
