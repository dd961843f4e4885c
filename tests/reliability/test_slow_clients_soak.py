"""Slow clients against `linker serve` started with a service manager's open-file limits
(soft 1024, hard 4096): while they hold their connections, complete link flows over real
HTTP still link, and nothing answers a 5xx. `make soak-host` runs 1,100 slow clients and 20
flows (the tenant is the benchmarks' zero-latency one)."""

from __future__ import annotations

import asyncio
import os
import resource
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.http.loadgen import Config, run
from benchmarks.http.run import linker_env
from linker.ops.host_limits import raise_open_file_limit
from linker.testing import free_port

SLOW = int(os.environ.get("LINKER_HOST_SOAK_SLOW", "150"))
FLOWS = int(os.environ.get("LINKER_HOST_SOAK_FLOWS", "5"))
ROOT = Path(__file__).resolve().parents[2]


def service_limits() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096))


def started(
    args: list[str],
    url: str,
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        preexec_fn=preexec_fn,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        assert child.poll() is None, f"{args} stopped"
        assert time.monotonic() < deadline, f"{args} did not start"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return child
        except httpx.HTTPError:
            time.sleep(0.1)


def stopped(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=10)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """The benchmarks' tenant, and `linker serve` under a service manager's limits."""
    tenant_url = f"http://127.0.0.1:{free_port()}"
    linker_port = free_port()
    linker_url = f"http://127.0.0.1:{linker_port}"
    secret = secrets.token_urlsafe(32)
    tenant_port = tenant_url.rsplit(":", 1)[1]
    tenant = started(
        [sys.executable, "-m", "benchmarks.http.tenant", "--port", tenant_port, "--pairs", "99"],
        f"{tenant_url}/.well-known/openid-configuration",
        ROOT,
    )
    try:
        linker = started(
            [sys.executable, "-m", "linker", "serve", "--port", str(linker_port)],
            f"{linker_url}/healthz",
            tmp_path,
            env=linker_env(tenant_url, linker_url, secret, "memory://"),
            preexec_fn=service_limits,
        )
        try:
            yield tenant_url, linker_url, secret
        finally:
            stopped(linker)
    finally:
        stopped(tenant)


def test_flows_link_while_slow_clients_hold_connections(stack: tuple[str, str, str]) -> None:
    tenant_url, linker_url, secret = stack
    port = int(linker_url.rsplit(":", 1)[1])
    soft, _ = raise_open_file_limit()  # this process opens the slow clients' connections
    assert soft > SLOW + 100, "this process cannot open that many connections"
    held = []
    try:
        for _ in range(SLOW):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: linker\r\nX-Slow: ")
            held.append(sock)
        config = Config(linker_url, tenant_url, secret, first=0, flows=FLOWS, concurrency=5)
        go = asyncio.Event()
        go.set()
        report = asyncio.run(run(config, go))
    finally:
        for sock in held:
            sock.close()
    print(
        f"\nslow clients: {SLOW}, flows: {FLOWS}, linked: {report['linked']}, "
        f"failures: {report['failures'] or 0}"
    )
    assert report["failures"] == {}
    assert report["linked"] == FLOWS
