"""Large bodies against `linker serve`: the worker's memory before and after.

`python -m benchmarks.body_flood [MiB]` (default 1024, `make body-flood`) starts `linker serve`
(one worker, so its process is the worker), then sends to every route a body of that size
twice, once with a `Content-Length` and once chunked, each produced lazily as it is sent, and
prints for each the answer, the bytes the server took before it closed the connection, and
the worker's peak resident memory (VmHWM) before and after. The test suite runs the same with a
few MiB (`tests/e2e/test_body_limit_e2e.py`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROUTES = (
    ("POST", "/link/commit"),
    ("POST", "/link/confirm"),
    ("GET", "/link/start"),
    ("GET", "/link/callback"),
    ("GET", "/healthz"),
)
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Flooded:
    """One large request: the status answered, the bytes sent before the server stopped
    reading, and the worker's peak memory in KiB before and after."""

    method: str
    path: str
    chunked: bool
    status: int | None
    sent: int
    rss_before: int
    rss_after: int

    @property
    def growth_kib(self) -> int:
        return self.rss_after - self.rss_before


def rss_kib(pid: int, field: str = "VmHWM") -> int:
    """Process `pid`'s peak resident set size so far (`VmHWM`; `VmRSS` for the current one),
    in KiB (Linux). The peak is what matters: a body read whole and freed again leaves the
    current size where it was, after the worker was killed for it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(env: Mapping[str, str], log: Path) -> Iterator[tuple[int, int]]:
    """`linker serve` on a free loopback port: yields (its pid, its port)."""
    port = free_port()
    command = [sys.executable, "-m", "linker", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        child = subprocess.Popen(  # noqa: S603 (our own command)
            command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"linker serve did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield child.pid, port
    finally:
        child.terminate()
        child.wait(timeout=30)


def _status(sock: socket.socket) -> int | None:
    sock.settimeout(10)
    data = b""
    try:
        while b"\r\n" not in data:
            piece = sock.recv(4096)
            if not piece:
                break
            data += piece
    except OSError:
        pass
    parts = data.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def flood(port: int, method: str, path: str, size: int, *, chunked: bool) -> tuple[int | None, int]:
    """Send `size` bytes of body, made as they go, until done or the server stops reading;
    answers (status, bytes sent)."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{framing}\r\n\r\n"
    )
    piece = b"x" * CHUNK
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head.encode())
        try:
            while sent < size:
                n = min(CHUNK, size - sent)
                data = piece[:n]
                if chunked:
                    data = f"{n:x}\r\n".encode() + data + b"\r\n"
                sock.sendall(data)
                sent += n
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed: it reads no more
            pass
        return _status(sock), sent


def run(env: Mapping[str, str], size: int, log: Path) -> list[Flooded]:
    """Every route, with a declared and a chunked body of `size` bytes."""
    results = []
    with serving(env, log) as (pid, port):
        for _ in range(3):  # warm: the first requests load what every later one uses
            httpx.post(f"http://127.0.0.1:{port}/link/commit", json={"commit_token": "x"})
        for method, path in ROUTES:
            for chunked in (False, True):
                before = rss_kib(pid)
                status, sent = flood(port, method, path, size, chunked=chunked)
                time.sleep(0.2)  # let the worker finish with the connection
                results.append(Flooded(method, path, chunked, status, sent, before, rss_kib(pid)))
    return results


def main(argv: list[str]) -> int:
    from tests.support.harness import settings_env

    mib = int(argv[0]) if argv else 1024
    with tempfile.TemporaryDirectory(prefix="body-flood-") as directory:
        results = run(settings_env(), mib * 1024 * 1024, Path(directory) / "serve.log")
    print(f"{mib} MiB per request against linker serve (1 worker)")
    for r in results:
        framing = "chunked" if r.chunked else "content-length"
        print(
            f"{r.method:4} {r.path:15} {framing:14} -> {r.status}  sent {r.sent / 2**20:8.1f} MiB"
            f"  peak RSS {r.rss_before / 1024:6.1f} -> {r.rss_after / 1024:6.1f} MiB"
            f" ({r.growth_kib / 1024:+.1f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
