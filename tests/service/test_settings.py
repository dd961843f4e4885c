"""Settings: defaults, every bad value named, secrets never shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from linker.environment import read_dotenv
from linker.settings import Settings, SettingsError
from tests.support.harness import SECRET, settings_env


def test_defaults() -> None:
    settings = Settings.from_env(settings_env())
    assert settings.tenant_scheme == "https"
    assert settings.hint_max_age == 600 and settings.txn_ttl == 600
    assert settings.upstream_budget == 10.0
    assert settings.require_verified_secondary_email is True
    assert settings.metadata_merge == "primary-wins"
    assert settings.merge_app_metadata is False
    assert settings.store_url.reveal() == "memory://"
    assert settings.issuer == "https://tenant.test/"


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("LINKER_AUTH0_DOMAIN", "", "is required"),
        ("LINKER_AUTH0_DOMAIN", "https://x.auth0.com", "without scheme"),
        ("LINKER_TENANT_SCHEME", "ftp", "https"),
        ("LINKER_CLIENT_ID", "", "is required"),
        ("LINKER_CLIENT_SECRET", "", "is required"),
        ("LINKER_ACTION_SECRETS", "short", "shorter than 32 bytes"),
        ("LINKER_ACTION_SECRETS", "a" * 40 + ",", "empty entry"),
        ("LINKER_PUBLIC_URL", "linker.example.com", "absolute"),
        ("LINKER_STORE_URL", "postgres://db", "redis://"),
        ("LINKER_HINT_MAX_AGE", "ten", "whole number"),
        ("LINKER_TXN_TTL", "0", "greater than zero"),
        ("LINKER_UPSTREAM_BUDGET", "-1", "greater than zero"),
        ("LINKER_PIN_IP", "maybe", "true or false"),
        ("LINKER_METADATA_MERGE", "both", "primary-wins"),
        # Numbers past reason: each broke every start or commit, or the store's TTLs.
        ("LINKER_UPSTREAM_BUDGET", "inf", "at most"),
        ("LINKER_UPSTREAM_BUDGET", "nan", "greater than zero"),
        ("LINKER_TXN_TTL", "99999999999999999999", "at most"),
        ("LINKER_START_LIMIT_PER_ADDRESS", "5/inf", "at most"),
        ("LINKER_START_LIMIT_PER_CLIENT", "5/1e400", "at most"),
        ("LINKER_AUTH0_DOMAIN", "tenant.example.com:99999", "65535"),
        ("LINKER_AUTH0_DOMAIN", "tenant.example.com:\u00b2", "65535"),
        ("LINKER_STORE_URL", "redis://127.0.0.1:port/0", "port"),
    ],
)
def test_bad_setting_is_named(name: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(settings_env(**{name: value}))
    assert caught.value.name == name
    assert str(caught.value).startswith(f"{name}: ")
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["redis://:1234/SECRETPW+x9Lm=@127.0.0.1:1/0", "rediss://user:ab/cd?ef#SECRETPW@redis:6380/0"],
)
def test_a_store_password_that_needs_encoding_is_refused_unshown(url: str) -> None:
    """Base64 passwords hold `/`: unencoded, the URL parses with the password as a path, and
    `linker check` printed it (or failed with a traceback quoting it)."""
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(settings_env(LINKER_STORE_URL=url))
    assert caught.value.name == "LINKER_STORE_URL" and "percent-encode" in str(caught.value)
    assert "SECRETPW" not in str(caught.value) and "1234" not in str(caught.value)


def test_problems_lists_every_bad_setting() -> None:
    env = settings_env(LINKER_PIN_IP="maybe", LINKER_TXN_TTL="x")
    del env["LINKER_CLIENT_ID"]
    assert [p.name for p in Settings.problems(env)] == [
        "LINKER_CLIENT_ID",
        "LINKER_TXN_TTL",
        "LINKER_PIN_IP",
    ]


def test_secrets_never_shown() -> None:
    settings = Settings.from_env(
        settings_env(LINKER_STORE_URL="redis://:hunter2-password@redis:6379/0")
    )
    text = repr(settings) + str(settings)
    assert SECRET not in text and "linker-client-secret" not in text
    assert "hunter2" not in text
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(settings_env(LINKER_ACTION_SECRETS=SECRET + ",tooshort-secret"))
    assert "tooshort" not in str(caught.value) and SECRET not in str(caught.value)


def test_dotenv_is_read(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text('# comment\nexport LINKER_PIN_IP="true"\nLINKER_TXN_TTL=30\n\nnot a line\n')
    assert read_dotenv(path) == {"LINKER_PIN_IP": "true", "LINKER_TXN_TTL": "30"}


def run_linker(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`linker COMMAND` in a clean environment (and a folder with no `.env`)."""
    return subprocess.run(
        [sys.executable, "-m", "linker", command],
        env={**env, "PATH": "/usr/bin:/bin"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_fails_fast_with_the_setting_name(tmp_path: Path) -> None:
    done = run_linker("serve", settings_env(LINKER_TXN_TTL="soon"), tmp_path)
    assert done.returncode == 2
    assert "LINKER_TXN_TTL: must be a whole number of seconds" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_prints_one_line_per_problem(tmp_path: Path) -> None:
    done = run_linker("check", {"LINKER_PIN_IP": "maybe"}, tmp_path)
    assert done.returncode == 2
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 7
    assert any(line.startswith("LINKER_ALLOWED_CLIENT_IDS: is required") for line in lines)
    assert "LINKER_PIN_IP: must be true or false" in lines
