"""kill -9 of a replica between the link and the merge, with Redis (one, or a cluster): the
link stands, the merge is owed in the store, and `linker reconcile` (any replica's background
pass would too) writes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from linker.testing import FakeClock, ServerThread, free_port
from linker.testing.stack import Stack, linker_env, stack_tenant
from tests.support.redis_cluster import redis_cluster
from tests.support.redis_server import redis_server

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

ALICE, GITHUB = "google-oauth2|alice", "github|1001"
TENANT_HOST, LINKER_HOST = "127.0.0.1", "127.0.0.3"


@pytest.fixture(params=["redis", "cluster"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """One Redis, or a Redis Cluster of three primaries."""
    (tmp_path / "redis").mkdir()
    if request.param == "redis":
        with redis_server(tmp_path / "redis") as url:
            yield url
    else:
        with redis_cluster(tmp_path / "redis") as cluster:
            yield cluster.url


@pytest.fixture
def crashing(tmp_path: Path, store_url: str) -> Iterator[tuple[Stack, dict[str, str]]]:
    """A dev tenant whose Action commits to a `linker serve` subprocess backed by Redis."""
    tenant_port, linker_port = free_port(TENANT_HOST), free_port(LINKER_HOST)
    tenant_url = f"http://{TENANT_HOST}:{tenant_port}"
    linker_url = f"http://{LINKER_HOST}:{linker_port}"
    tenant = stack_tenant(tenant_url, linker_url)
    with ServerThread(tenant, host=TENANT_HOST, port=tenant_port):
        env = linker_env(
            tenant_url,
            linker_url,
            PATH=os.environ.get("PATH", "/usr/bin:/bin"),
            LINKER_STORE_URL=store_url,
            LINKER_UPSTREAM_BUDGET="20",
        )
        stack = Stack(tenant_url, linker_url, FakeClock(real_time=True), tmp_path / "audit.jsonl")
        yield stack, env
        stack.admin.close()


def serve(env: dict[str, str], cwd: Path, url: str) -> subprocess.Popen[bytes]:
    host, port = url.removeprefix("http://").split(":")
    replica = subprocess.Popen(
        [sys.executable, "-m", "linker", "serve", "--host", host, "--port", port],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return replica
        except httpx.HTTPError:
            time.sleep(0.1)
    replica.kill()
    raise AssertionError("linker serve did not start")


def test_a_replica_killed_between_link_and_merge(
    crashing: tuple[Stack, dict[str, str]], tmp_path: Path
) -> None:
    stack, env = crashing
    replica = serve(env, tmp_path, stack.linker_url)
    try:
        # The merge's PATCH hangs: the replica is killed while it waits.
        stack.fault(method="PATCH", path=r"^/api/v2/users/[^/]+$", kind="latency", delay=30)
        with stack.browser() as browser:
            alice = stack.sign_in(browser, ALICE)
            flow = threading.Thread(
                target=lambda: stack.link(browser, alice.id_token, "github", choose=GITHUB),
                daemon=True,
            )
            flow.start()
            deadline = time.monotonic() + 30
            while stack.identities(ALICE) != [ALICE, GITHUB]:
                assert time.monotonic() < deadline, "the link was never written"
                time.sleep(0.05)
            time.sleep(0.5)  # the replica is now waiting for the PATCH
            os.kill(replica.pid, signal.SIGKILL)
            replica.wait(timeout=10)
            flow.join(timeout=30)
    finally:
        if replica.poll() is None:
            replica.kill()
    user = stack.user(ALICE)
    assert user is not None and "github_handle" not in user["user_metadata"]  # merge owed
    stack.admin.delete("/__admin/faults")
    done = subprocess.run(
        [sys.executable, "-m", "linker", "reconcile"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "merged 1" in done.stdout
    user = stack.user(ALICE)
    assert user is not None
    assert user["user_metadata"]["github_handle"] == "alice-codes"
    assert user["user_metadata"]["theme"] == "dark"
    assert stack.identities(ALICE) == [ALICE, GITHUB]
