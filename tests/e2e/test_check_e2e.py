"""`linker check` against dev tenants set up right and set up wrong: one line per problem.

Each tenant's seed gives the companion client `linker` the Management API scopes and the
callback URLs under test. With `read:clients` and `read:client_grants` the check reads the
client and its grant; without them it falls back to its own token's scopes and says (on
stderr) what it could not check.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from linker.cli import main
from linker.devtenant import DevTenantConfig, create_dev_tenant, load_seed
from linker.testing import ServerThread, free_port
from tests.support.redis_server import redis_server
from tests.support.tls import tls_only_server

pytestmark = pytest.mark.e2e

LINKER_URL = "https://linker.example.com"
CALLBACK = f"{LINKER_URL}/link/callback"
READS = ["read:clients", "read:client_grants"]
NEEDED = ["read:users", "update:users"]
SECRET = "check-action-secret-0123456789-0123456789"


def tenant_with(scopes: list[str], callbacks: list[str]) -> ServerThread:
    """A dev tenant whose `linker` client has these Management API scopes and callbacks."""
    seed = json.loads(resources.files("linker.devtenant").joinpath("seed.json").read_text())
    for client in seed["clients"]:
        if client["client_id"] == "linker":
            client["management_scopes"] = scopes
            client["callbacks"] = callbacks
    port = free_port()
    app = create_dev_tenant(
        DevTenantConfig(
            base_url=f"http://127.0.0.1:{port}",
            seed=load_seed(seed),
            action_secrets={"LINKER_ACTION_SECRET": SECRET},
        )
    )
    return ServerThread(app, port=port)


@dataclass
class Checked:
    code: int
    lines: list[str]  # stdout: the problems, or the ok line
    notes: str  # stderr


Check = Callable[..., Checked]


@pytest.fixture
def check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Check]:
    for name in list(os.environ):
        if name.startswith("LINKER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # a folder without .env
    servers: list[ServerThread] = []

    def run(scopes: list[str], callbacks: list[str], **env: str) -> Checked:
        server = tenant_with(scopes, callbacks).start()
        servers.append(server)
        settings = {
            "LINKER_AUTH0_DOMAIN": f"{server.host}:{server.port}",
            "LINKER_TENANT_SCHEME": "http",
            "LINKER_CLIENT_ID": "linker",
            "LINKER_CLIENT_SECRET": "linker-secret-change-me-0123456789",
            "LINKER_ACTION_SECRETS": SECRET,
            "LINKER_PUBLIC_URL": LINKER_URL,
            "LINKER_ALLOWED_CLIENT_IDS": "demo-app",
            **env,
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        code = main(["check"])
        out, err = capsys.readouterr()
        return Checked(code, out.splitlines(), err)

    yield run
    for server in servers:
        server.stop()


def test_a_tenant_set_up_right_passes(check: Check) -> None:
    done = check(NEEDED + READS, [CALLBACK])
    assert (done.code, done.notes) == (0, "")
    assert done.lines == [f"ok: settings valid, tenant {os.environ['LINKER_AUTH0_DOMAIN']} answers"]


def test_a_grant_without_update_users_fails(check: Check) -> None:
    done = check(["read:users", *READS], [CALLBACK])
    assert done.code == 1
    assert done.lines == [
        "LINKER_CLIENT_ID: client linker's grant on the Management API lacks update:users"
    ]


def test_an_unregistered_callback_fails(check: Check) -> None:
    done = check(NEEDED + READS, ["https://elsewhere.example.com/link/callback"])
    assert done.code == 1
    assert done.lines == [
        f"LINKER_PUBLIC_URL: {CALLBACK} is not an allowed callback URL of client linker; "
        "add it to the application's Allowed Callback URLs"
    ]


def test_both_problems_are_one_line_each(check: Check) -> None:
    done = check(READS, [])
    assert done.code == 1
    assert len(done.lines) == 2
    assert done.lines[0].startswith("LINKER_PUBLIC_URL: ")
    assert done.lines[1].endswith("lacks read:users and update:users")


def test_without_read_scopes_the_token_still_tells_missing_scopes(check: Check) -> None:
    done = check(["read:users"], [CALLBACK])
    assert done.code == 1
    assert done.lines == [
        "LINKER_CLIENT_ID: client linker's grant on the Management API lacks update:users"
    ]
    assert "callback URLs were not checked" in done.notes


def test_refused_client_credentials(check: Check) -> None:
    done = check(NEEDED, [CALLBACK], LINKER_CLIENT_SECRET="wrong-secret-0123456789")
    assert done.code == 1
    assert len(done.lines) == 1
    assert done.lines == [
        "LINKER_CLIENT_ID / LINKER_CLIENT_SECRET: the tenant refused client linker's "
        "credentials (HTTP 401 invalid_client); copy the client id and secret from the "
        "application's settings"
    ]
    assert "wrong-secret" not in done.lines[0] + done.notes


def test_a_bad_proxy_entry_is_a_bad_setting(check: Check) -> None:
    done = check(NEEDED + READS, [CALLBACK], LINKER_TRUSTED_PROXIES="10.0.0.1,not-an-ip")
    assert done.code == 2
    assert done.lines == [
        "LINKER_TRUSTED_PROXIES: 'not-an-ip' is not an IP address, a CIDR range or *"
    ]


def test_a_misspelled_setting_is_named_with_the_closest_one(check: Check) -> None:
    done = check(NEEDED + READS, [CALLBACK], LINKER_PUBLC_URL="https://x", LINKER_FOO="1")
    assert done.code == 2
    assert done.lines == [
        "LINKER_FOO: not a linker setting",
        "LINKER_PUBLC_URL: not a linker setting; did you mean LINKER_PUBLIC_URL?",
    ]


def test_a_refused_tenant_connection_is_named_at_once(check: Check) -> None:
    port = free_port()
    started = time.monotonic()
    done = check(NEEDED, [CALLBACK], LINKER_AUTH0_DOMAIN=f"127.0.0.1:{port}")
    # Not after the service's retries (LINKER_UPSTREAM_BUDGET, 10 s): a refusal is final.
    assert time.monotonic() - started < 2.0
    assert done.code == 1
    assert done.lines == [
        f"LINKER_AUTH0_DOMAIN: 127.0.0.1:{port} refused the connection: nothing listens there "
        "(is the tenant running, and is the port right?)"
    ]


def test_https_to_a_plain_http_tenant_hints_at_the_scheme(check: Check) -> None:
    done = check(NEEDED + READS, [CALLBACK], LINKER_TENANT_SCHEME="https")
    assert done.code == 1
    domain = os.environ["LINKER_AUTH0_DOMAIN"]
    assert done.lines == [
        f"LINKER_TENANT_SCHEME: {domain} answers plain HTTP, not https; for a local dev tenant "
        "set LINKER_TENANT_SCHEME=http"
    ]


def test_http_to_a_tls_server_hints_at_the_scheme(check: Check, tmp_path: Path) -> None:
    with tls_only_server(tmp_path) as port:
        done = check(NEEDED, [CALLBACK], LINKER_AUTH0_DOMAIN=f"127.0.0.1:{port}")
    assert done.code == 1
    assert done.lines == [
        f"LINKER_TENANT_SCHEME: 127.0.0.1:{port} does not answer plain HTTP (it expects TLS?); "
        "leave LINKER_TENANT_SCHEME unset for https"
    ]


def test_a_client_without_a_grant_is_told_from_bad_credentials(check: Check) -> None:
    done = check([], [CALLBACK])
    assert done.code == 1
    assert done.lines == [
        "LINKER_CLIENT_ID: client linker may not use the Management API (HTTP 403 "
        'access_denied: Client is not authorized to access "http://'
        f'{os.environ["LINKER_AUTH0_DOMAIN"]}/api/v2/".); authorize it for the Auth0 '
        "Management API with read:users and update:users"
    ]


# -- the store --------------------------------------------------------------------------------


def test_an_unreachable_store_fails_with_its_address_and_no_password(check: Check) -> None:
    port = free_port()
    done = check(
        NEEDED + READS, [CALLBACK], LINKER_STORE_URL=f"redis://:hunter2@127.0.0.1:{port}/0"
    )
    assert done.code == 1
    assert done.lines == [
        f"LINKER_STORE_URL: the store at redis://127.0.0.1:{port}/0 cannot be used: Redis at "
        f"127.0.0.1:{port}: nothing accepts connections there; linker serve would answer "
        "/readyz 503"
    ]
    assert "hunter2" not in "".join(done.lines) + done.notes


def test_a_shared_store_that_answers_passes(check: Check, tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        done = check(NEEDED + READS, [CALLBACK], LINKER_STORE_URL=url)
        assert redis_keys(url) == []  # the check cleaned up after itself
    assert done.code == 0
    notes = done.notes.splitlines()
    assert all(note.startswith("note: ") for note in notes)  # information, no warning
    assert "note: store is one Redis (not a cluster)" in notes
    clock = r"note: this host's clock is [-+]\d+\.\d{3} s from the store's"
    assert any(re.fullmatch(clock, note) for note in notes)


def test_a_store_that_runs_no_scripts_fails(check: Check, tmp_path: Path) -> None:
    renamed = ["--rename-command", "EVALSHA", "", "--rename-command", "EVAL", ""]
    with redis_server(tmp_path, *renamed) as url:
        done = check(NEEDED + READS, [CALLBACK], LINKER_STORE_URL=url)
    assert done.code == 1
    assert done.lines == [
        f"LINKER_STORE_URL: the store at {url} refused to run a script (linker needs Lua "
        "scripting: EVAL/EVALSHA) (ResponseError); linker serve would answer /readyz 503"
    ]


def redis_keys(url: str) -> list[str]:
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.sendall(b"*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n")
        answer = sock.recv(65536)
    return [] if answer == b"*0\r\n" else [answer.decode()]


def bundled_scopes(client_id: str) -> list[str]:
    seed = json.loads(resources.files("linker.devtenant").joinpath("seed.json").read_text())
    (client,) = [c for c in seed["clients"] if c["client_id"] == client_id]
    return list(client["management_scopes"])


def test_the_bundled_seed_lets_check_try_the_callback_url(check: Check) -> None:
    scopes = bundled_scopes("linker")
    done = check(scopes, ["https://elsewhere.example.com/link/callback"])
    assert done.code == 1
    assert done.lines[0].startswith(f"LINKER_PUBLIC_URL: {CALLBACK} is not an allowed callback")
    fixed = check(scopes, [CALLBACK])
    assert fixed.code == 0
    assert "callback URLs were not checked" not in fixed.notes


@pytest.mark.redis
def test_a_redis_store_that_may_evict_fails_and_a_safe_one_passes(
    check: Check, redis_url: str
) -> None:
    import redis

    raw = redis.Redis.from_url(redis_url)
    raw.config_set("maxmemory-policy", "allkeys-lru")
    try:
        done = check(NEEDED + READS, [CALLBACK], LINKER_STORE_URL=redis_url)
    finally:
        raw.config_set("maxmemory-policy", "noeviction")
    assert done.code == 1
    assert done.lines == [
        "LINKER_STORE_URL: Redis redis has maxmemory-policy allkeys-lru, which can evict "
        "pending attempts and merges; set noeviction"
    ]
    safe = check(NEEDED + READS, [CALLBACK], LINKER_STORE_URL=redis_url)
    raw.close()
    assert safe.code == 0
    assert "note: store is one Redis (not a cluster)" in safe.notes
