"""`linker check` and `linker serve` as a user runs them, against the dev tenant."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from linker.testing import free_port
from linker.testing.stack import Stack, linker_env

pytestmark = pytest.mark.e2e


def env_for(stack: Stack, **extra: str) -> dict[str, str]:
    return linker_env(stack.tenant_url, stack.linker_url, PATH="/usr/bin:/bin", **extra)


def test_check_passes_against_the_tenant(stack: Stack, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "linker", "check"],
        env=env_for(stack),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"ok: settings valid, tenant {stack.domain} answers")


def test_check_reports_refused_client_credentials(stack: Stack, tmp_path: Path) -> None:
    env = env_for(stack, LINKER_CLIENT_SECRET="wrong-secret")
    done = subprocess.run(
        [sys.executable, "-m", "linker", "check"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "LINKER_CLIENT_ID / LINKER_CLIENT_SECRET" in done.stdout
    assert "wrong-secret" not in done.stdout + done.stderr


def test_serve_answers_and_keeps_tokens_out_of_its_log(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    # With uvicorn's access line on: it is where a token in a query string would show.
    server = subprocess.Popen(
        [sys.executable, "-m", "linker", "serve", "--port", str(port), "--access-log"],
        env=env_for(stack),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        body = ready.json()
        assert {k: body.pop(k) for k in ("status", "store", "keys")} == {
            "status": "ready",
            "store": True,
            "keys": True,
        }
        assert abs(body.pop("clock_offset_seconds")) < 5 and body == {}  # no clock warning
        secret_looking = "eyJhbGciOiJIUzI1NiJ9.secret-payload.sig"
        page = httpx.get(
            f"http://127.0.0.1:{port}/link/start",
            params={"session_token": secret_looking, "state": "s"},
        )
        assert page.status_code == 400
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "GET /link/start?session_token=[redacted]&state=[redacted]" in output
    assert "secret-payload" not in output
