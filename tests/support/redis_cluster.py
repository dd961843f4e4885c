"""A real Redis Cluster on loopback: three primaries (optionally one replica each) on free
ports, joined with `redis-cli --cluster create`, for the store's cluster tests.

It fails loudly when redis-server or redis-cli is missing (`scripts/system-deps` installs them)
or when the cluster does not come up.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from linker.testing import free_port

HOST = "127.0.0.1"


@dataclass
class Cluster:
    """The running nodes; `url` is the `redis+cluster://` store URL over every primary."""

    ports: list[int]
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{HOST}:{port}" for port in self.ports[:3])

    def cli(self, port: int, *args: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-h", HOST, "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def primaries(self) -> dict[int, list[tuple[int, int]]]:
        """Each live primary's port and the slot ranges it serves, as the cluster says."""
        served: dict[int, list[tuple[int, int]]] = {}
        for line in self.cli(self.live()[0], "cluster", "nodes").splitlines():
            parts = line.split()
            if "master" not in parts[2] or "fail" in parts[2]:
                continue
            port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
            if port not in self.live():
                continue  # killed, though the others may not have noticed yet
            ranges = []
            for part in parts[8:]:
                if part.startswith("["):
                    continue
                low, _, high = part.partition("-")
                ranges.append((int(low), int(high or low)))
            served[port] = ranges
        return served

    def primary_of(self, key: str) -> int:
        slot = int(self.cli(self.live()[0], "cluster", "keyslot", key))
        for port, ranges in self.primaries().items():
            if any(low <= slot <= high for low, high in ranges):
                return port
        raise AssertionError(f"no primary serves slot {slot}")

    def live(self) -> list[int]:
        return [port for port, proc in self.processes.items() if proc.poll() is None]

    def kill(self, port: int) -> None:
        """kill -9 of one node."""
        os.kill(self.processes[port].pid, signal.SIGKILL)
        self.processes[port].wait(timeout=10)

    def wait_ok(self, timeout: float = 30) -> None:
        """Until every slot is served again (after a failover)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                info = self.cli(self.live()[0], "cluster", "info")
            except subprocess.SubprocessError:
                info = ""
            if "cluster_state:ok" in info and self._covered():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not settle: {info[:200]}")
            time.sleep(0.1)

    def _covered(self) -> bool:
        served = sum(high - low + 1 for ranges in self.primaries().values() for low, high in ranges)
        return served == 16384


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                said = log.read_text(errors="replace")[-300:]
                raise RuntimeError(f"redis-server (cluster node) did not start: {said}") from None
            time.sleep(0.05)


@contextmanager
def redis_cluster(
    workdir: Path, *, replicas: int = 0, extra: tuple[str, ...] = ()
) -> Iterator[Cluster]:
    """Three primaries and `replicas` replicas of each; yields once every slot is served."""
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed; run scripts/system-deps")
    count = 3 * (1 + replicas)
    cluster = Cluster(ports=[])
    # A node's cluster bus listens on its port + 10000: both must be free.
    while len(cluster.ports) < count:
        port = free_port()
        if port + 10000 < 65536 and port not in cluster.ports and _free(port + 10000):
            cluster.ports.append(port)
    logs = []
    try:
        for port in cluster.ports:
            node = workdir / str(port)
            node.mkdir(parents=True, exist_ok=True)
            log = node / "redis.log"
            logs.append(log.open("wb"))
            cluster.processes[port] = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    HOST,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(node / "nodes.conf"),
                    "--cluster-node-timeout",
                    "1000",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(node),
                    *extra,
                ],
                stdout=logs[-1],
                stderr=subprocess.STDOUT,
            )
        for port in cluster.ports:
            _wait_listening(port, cluster.processes[port], workdir / str(port) / "redis.log")
        created = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"{HOST}:{port}" for port in cluster.ports),
                "--cluster-replicas",
                str(replicas),
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout[-500:]}")
        cluster.wait_ok()
        if replicas:
            _wait_replicas_synced(cluster)
        yield cluster
    finally:
        for process in cluster.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in cluster.processes.values():
            process.wait(timeout=10)
        for opened in logs:
            opened.close()


def _wait_replicas_synced(cluster: Cluster, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    for port in cluster.ports[3:]:
        while "master_link_status:up" not in cluster.cli(port, "info", "replication"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"replica {port} never synced with its primary")
            time.sleep(0.1)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True
