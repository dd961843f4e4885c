"""The app redacts its own log records: run by plain uvicorn with uvicorn's default logging
(no linker configuration at all), the access log still shows no token."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from linker.testing import free_port
from tests.support.harness import settings_env

pytestmark = pytest.mark.e2e

SERVE = """
import sys, uvicorn
from linker.app import create_app
from linker.settings import Settings
env = dict(arg.split("=", 1) for arg in sys.argv[2:])
uvicorn.run(create_app(Settings.from_env(env)), port=int(sys.argv[1]), log_level="debug")
"""


def test_plain_uvicorn_logs_no_token(tmp_path: Path) -> None:
    port = free_port()
    env = [f"{k}={v}" for k, v in settings_env().items()]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port), *env],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        raw = f"http://127.0.0.1:{port}/link/start?session%5Ftoken=s3cret-start&state=s3cret-state"
        assert httpx.get(raw).status_code == 400
        callback = f"http://127.0.0.1:{port}/link/callback?code=s3cret-code&state=s3cret-state"
        assert httpx.get(callback).status_code == 400
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "GET /link/start?session%5Ftoken=[redacted]&state=[redacted] HTTP/1.1" in output
    assert "GET /link/callback?code=[redacted]&state=[redacted] HTTP/1.1" in output
    assert "s3cret" not in output
