"""A real redis-server on a free loopback port, for the shared store's tests.

It fails loudly when redis-server is missing: `scripts/system-deps` installs it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from linker.testing import free_port


@contextmanager
def redis_server(workdir: Path, *options: str) -> Iterator[str]:
    """A redis-server on a free port for the block's length; `options` are added to its
    command line (e.g. `--rename-command EVALSHA ""`)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed; run scripts/system-deps")
    port = free_port()
    log = (workdir / "redis.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            *options,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    said = (workdir / "redis.log").read_text(errors="replace")[-300:]
                    raise RuntimeError(f"redis-server did not start: {said}") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
