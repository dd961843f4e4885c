"""`linker serve` on a host at its limits: the open-file soft limit raised to the hard one,
slow clients cut off after the header timeout, connections capped per process with a 503,
and an `OSError` from a request (out of descriptors) answered 503, never 500."""

from __future__ import annotations

import errno
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from linker.cli import main
from linker.ops.host_limits import (
    RESERVED_DESCRIPTORS,
    default_max_connections,
    raise_open_file_limit,
)
from linker.state.store import MemoryStore
from linker.testing import FakeClock, free_port
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import make_settings, nested_state, running, settings_env

ROOT = Path(__file__).resolve().parents[1]


def limited(soft: int, hard: int) -> None:
    """For a child process: open-file limits like a service manager's."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_serve_raises_the_soft_limit_to_the_hard_one_in_its_process() -> None:
    script = (
        "import resource\n"
        "from linker.ops.host_limits import raise_open_file_limit\n"
        "print(*raise_open_file_limit(), *resource.getrlimit(resource.RLIMIT_NOFILE))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        preexec_fn=lambda: limited(64, 512),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["512", "512", "512", "512"]


def test_serve_caps_connections_below_the_open_file_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    for name, value in settings_env().items():
        monkeypatch.setenv(name, value)
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda **options: runs.append(options))
    assert main(["serve"]) == 0
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert runs[-1]["limit_concurrency"] == soft - RESERVED_DESCRIPTORS
    assert runs[-1]["timeout_keep_alive"] == 10
    assert main(["serve", "--max-connections", "500", "--header-timeout", "30"]) == 0
    assert (runs[-1]["limit_concurrency"], runs[-1]["timeout_keep_alive"]) == (500, 30)
    assert default_max_connections(100) == 32  # never below a working minimum


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """`linker serve` started as a service manager would with a 1024-descriptor soft limit and
    a hard limit of 2048: a header timeout of 1 s, at most 300 connections."""
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), **settings_env()}
    args = ["--port", str(port), "--header-timeout", "1", "--max-connections", "300"]
    process = subprocess.Popen(
        [sys.executable, "-m", "linker", "serve", *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: limited(1024, 2048),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "linker serve stopped"
            assert time.monotonic() < deadline, "linker serve did not start"
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def slow_clients(url: str, count: int) -> list[socket.socket]:
    """`count` connections that send the start of a request head and then nothing."""
    soft, _ = raise_open_file_limit()  # this process opens them
    assert soft > count + 100, "this process cannot open that many connections"
    port = int(url.rsplit(":", 1)[1])
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: linker\r\nX-Slow: ")
        held.append(sock)
    return held


def closed_by_the_server(sock: socket.socket) -> bytes | None:
    """What the server sent before closing the connection, or None while it is still open."""
    sock.settimeout(3)
    try:
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        return data
    except TimeoutError:
        return None
    except ConnectionResetError:
        return b""


def test_slow_clients_are_cut_off_and_beyond_the_cap_answered_503(
    server: tuple[str, int],
) -> None:
    url, pid = server
    limits = Path(f"/proc/{pid}/limits").read_text()
    assert [line.split()[3:5] for line in limits.splitlines() if "open files" in line] == [
        ["2048", "2048"]
    ]  # raised from 1024 at start
    held = slow_clients(url, 350)  # beyond the cap of 300
    try:
        answers = [closed_by_the_server(sock) for sock in held[300:]]
        assert all(a is not None and a.startswith(b"HTTP/1.1 503 ") for a in answers)
        # The slow ones within the cap are closed after the header timeout, with no answer.
        assert closed_by_the_server(held[0]) == b""
        time.sleep(1.5)
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200  # room again
    finally:
        for sock in held:
            sock.close()


def test_the_cap_is_the_number_of_connections_served(server: tuple[str, int]) -> None:
    """With the cap's last connection open (299 slow ones, then this one), its request is
    served: uvicorn's own check, at each request, refused it once the count reached the cap."""
    url, _ = server
    held = slow_clients(url, 299)
    try:
        assert httpx.get(url + "/healthz", timeout=5).status_code == 200
    finally:
        for sock in held:
            sock.close()


def test_real_requests_pass_while_slow_clients_wait(server: tuple[str, int]) -> None:
    url, _ = server
    held = slow_clients(url, 200)  # within the cap
    try:
        with httpx.Client(timeout=5) as client:
            assert all(client.get(url + "/healthz").status_code == 200 for _ in range(20))
    finally:
        for sock in held:
            sock.close()


class OutOfDescriptors(MemoryStore):
    """A store whose client fails as one does with no descriptor left to connect with."""

    async def take(self, key: str) -> str | None:
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))


async def test_an_oserror_from_a_request_is_503_never_500(
    tenant: FakeTenant, clock: FakeClock
) -> None:
    store = OutOfDescriptors(clock=clock)
    async with running(tenant, clock, make_settings(), store=store) as harness:
        started = await harness.start()
        assert started.status_code == 302
        # Back from the nested login, the transaction is taken from the store: EMFILE.
        answer = await harness.callback(code="c", state=nested_state(started))
        assert answer.status_code == 503
        assert answer.json()["error"] == "upstream_unavailable"
