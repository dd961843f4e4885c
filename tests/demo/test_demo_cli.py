"""`linker demo`'s wiring: arguments, sockets and URLs, linker's settings, errors."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from linker.demo.cli import DemoUrls, banner, linker_env, listen, main, parse_args
from linker.settings import Settings
from tests.demo.demo_servers import FREE_PORTS

URLS = DemoUrls(
    tenant="http://127.0.0.1:8700",
    linker="http://127.0.0.2:8701",
    app="http://localhost:8702",
    spa="http://localhost:8703",
)


def test_defaults_are_the_documented_hosts_and_ports() -> None:
    args = parse_args([])
    assert (args.tenant_port, args.linker_port, args.app_port, args.spa_port) == (
        8700,
        8701,
        8702,
        8703,
    )
    assert args.linker_host == "127.0.0.2"


def test_listen_binds_four_loopback_servers_and_reports_the_real_ports() -> None:
    urls, sockets = listen(parse_args(FREE_PORTS))
    try:
        ports = [sock.getsockname()[1] for sock in sockets]
        assert urls == DemoUrls(
            tenant=f"http://127.0.0.1:{ports[0]}",
            linker=f"http://127.0.0.2:{ports[1]}",
            app=f"http://localhost:{ports[2]}",
            spa=f"http://localhost:{ports[3]}",
        )
        assert [sock.getsockname()[0] for sock in sockets] == [
            "127.0.0.1",
            "127.0.0.2",
            "127.0.0.1",
            "127.0.0.1",
        ]
    finally:
        for sock in sockets:
            sock.close()


def test_linker_settings_point_at_the_dev_tenant() -> None:
    secret = "a" * 43
    settings = Settings.from_env(
        linker_env(URLS, client_secret="linker-secret", action_secret=secret)
    )
    assert settings.tenant_url == "http://127.0.0.1:8700"
    assert settings.issuer == "http://127.0.0.1:8700/"
    assert settings.client_id == "linker"
    assert settings.client_secret.reveal() == "linker-secret"
    assert [s.reveal() for s in settings.action_secrets] == [secret]
    assert settings.callback_url == "http://127.0.0.2:8701/link/callback"


def test_banner_says_where_to_start_and_lists_each_server() -> None:
    lines = banner(URLS).splitlines()
    assert lines[0] == "Open http://localhost:8702 and sign in"
    assert "dev tenant  http://127.0.0.1:8700" in lines[1]
    assert "linker      http://127.0.0.2:8701" in lines[2]
    assert "sample app  http://localhost:8702" in lines[3]
    assert "SPA sample  http://localhost:8703" in lines[4]
    assert "auth0-spa-js" in lines[-1] and "http://localhost:8703" in lines[-1]


def test_a_busy_port_stops_the_demo_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]

        code = main([*FREE_PORTS, "--tenant-port", str(port)])

    assert code == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "--tenant-port" in err


def test_without_npm_the_demo_stops_and_says_so(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "npm" else real_which(name))
    monkeypatch.setenv("LINKER_DEMO_CACHE", str(tmp_path))  # an empty cache: npm is needed

    code = main(list(FREE_PORTS))

    assert code == 1
    assert "npm is needed to install @auth0/auth0-spa-js" in capsys.readouterr().err
