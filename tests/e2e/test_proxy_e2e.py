"""`linker serve` and `linker check` behind an egress proxy named in `HTTP_PROXY`, as on a
network that reaches the tenant only through one."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from linker.testing import free_port
from linker.testing.stack import Stack, linker_env
from tests.support.forward_proxy import ForwardProxy

pytestmark = pytest.mark.e2e


def behind(stack: Stack, proxy: ForwardProxy) -> dict[str, str]:
    return linker_env(
        stack.tenant_url, stack.linker_url, PATH="/usr/bin:/bin", HTTP_PROXY=proxy.url
    )


def test_check_reaches_the_tenant_through_the_proxy(stack: Stack, tmp_path: Path) -> None:
    with ForwardProxy().in_thread() as proxy:
        done = subprocess.run(
            [sys.executable, "-m", "linker", "check"],
            env=behind(stack, proxy),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"reached through proxy {proxy.url} (from HTTP_PROXY)" in done.stderr
    assert f"GET {stack.tenant_url}/.well-known/openid-configuration" in proxy.asked


def test_serve_reaches_the_tenant_through_the_proxy(stack: Stack, tmp_path: Path) -> None:
    port = free_port()
    with ForwardProxy().in_thread() as proxy:
        server = subprocess.Popen(
            [sys.executable, "-m", "linker", "serve", "--port", str(port)],
            env=behind(stack, proxy),
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5, trust_env=False)
                    break
                except httpx.TransportError:
                    assert server.poll() is None and time.monotonic() < deadline, "no serve"
                    time.sleep(0.1)
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert {k: ready.json()[k] for k in ("status", "store", "keys")} == {
        "status": "ready",
        "store": True,
        "keys": True,  # the signing keys came through the proxy
    }
    # The first request of each connection it carried (the rest follow on the same one).
    assert proxy.asked
    assert all(asked.startswith(f"GET {stack.tenant_url}/") for asked in proxy.asked)
