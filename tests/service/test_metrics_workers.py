"""`linker serve --workers 2`, the real command: one scrape of `/metrics` counts what every
worker served, and the metrics directory the server made goes with it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from linker.ops.observability import MULTIPROCESS_DIR
from linker.testing import free_port
from tests.support.harness import settings_env

pytestmark = pytest.mark.redis

START_TIMEOUT = 30.0
ROUNDS = 20  # of 10 requests at once, until both workers have answered some
BATCH = 10


def bad_start(base: str) -> int:
    """A `/link/start` whose token is no token: a dead end, counted under `start`. A new
    connection each time, so that either worker may take it."""
    answer = httpx.get(
        f"{base}/link/start", params={"session_token": "not-a-token", "state": "s"}, timeout=10
    )
    return answer.status_code


def counted(metrics_text: str) -> tuple[float, float]:
    """Dead-end starts in `linker_requests_total`, and start requests in the loop histogram."""
    requests = loop = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.labels.get("step") != "start":
                continue
            if sample.name == "linker_requests_total":
                requests += sample.value if sample.labels.get("status") == "dead_end" else 0
            elif sample.name == "linker_request_loop_seconds_count":
                loop += sample.value
    return requests, loop


def writers(directory: Path) -> set[str]:
    """The processes that have counted something: each writes `counter_<pid>.db`."""
    return {path.stem.removeprefix("counter_") for path in directory.glob("counter_*.db")}


@pytest.fixture
def two_workers(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`linker serve --workers 2` over Redis; its base URL and the temporary directory it
    makes its metrics directory in."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("LINKER_") and name not in (MULTIPROCESS_DIR, "WEB_CONCURRENCY")
    }
    env.update(settings_env(LINKER_STORE_URL=redis_url, LINKER_PUBLIC_URL=base))
    env["TMPDIR"] = str(temp)
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "linker", "serve", "--port", str(port), "--workers", "2"]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert server.poll() is None, log.read_text(errors="replace")[-2000:]
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "linker serve did not answer"
            time.sleep(0.1)
        yield base, temp
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, log.read_text(errors="replace")[-2000:]
    assert list(temp.iterdir()) == [], "the metrics directory outlived the server"


def test_one_scrape_counts_the_requests_of_every_worker(two_workers: tuple[str, Path]) -> None:
    base, temp = two_workers
    (directory,) = temp.glob("linker-metrics-*")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700

    sent = 0
    with ThreadPoolExecutor(BATCH) as pool:
        for _ in range(ROUNDS):
            assert set(pool.map(lambda _: bad_start(base), range(BATCH))) == {400}
            sent += BATCH
            if sent >= 20 and len(writers(directory)) >= 2:
                break
    assert len(writers(directory)) == 2, f"one worker answered all {sent} requests"

    # Whichever worker answers a scrape, it counts every worker's requests.
    for _ in range(6):
        scrape = httpx.get(f"{base}/metrics", timeout=10)
        assert scrape.status_code == 200
        assert counted(scrape.text) == (sent, sent)
