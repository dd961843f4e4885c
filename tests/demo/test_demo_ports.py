"""The tests that run the demo pass beside a running `make demo`.

`make demo` holds its fixed ports (8700-8703) for as long as it runs, and the README has a
newcomer run `make test` next. So every test that starts the demo's servers takes all four
ports from the OS (`FREE_PORTS`); these tests hold the fixed ports first, as a running demo
would, and then start the demo both ways the tests do: in-process and as `linker demo`.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from linker.demo import cli
from linker.demo.cli import listen, parse_args
from tests.demo.demo_servers import FREE_PORTS

pytestmark = pytest.mark.e2e

FIXED = [
    (cli.TENANT_HOST, cli.TENANT_PORT),
    (cli.LINKER_HOST, cli.LINKER_PORT),
    (cli.APP_HOST, cli.APP_PORT),
    (cli.SPA_HOST, cli.SPA_PORT),
]


def _taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


@contextmanager
def demo_ports_held() -> Iterator[None]:
    """Each of the demo's fixed ports listened on for the block's length: by this test, or by
    whatever holds it already (a running `make demo`, which is the case this is about)."""
    with ExitStack() as stack:
        for host, port in FIXED:
            sock = stack.enter_context(socket.socket())
            try:
                sock.bind((host, port))
            except OSError:
                continue  # held already
            sock.listen()
        assert all(_taken(host, port) for host, port in FIXED)
        yield


def test_the_demos_servers_start_in_process_while_its_ports_are_taken() -> None:
    with demo_ports_held():
        urls, sockets = listen(parse_args(FREE_PORTS))
        try:
            ports = {sock.getsockname()[1] for sock in sockets}
        finally:
            for sock in sockets:
                sock.close()
    assert len(ports) == 4 and not ports & {port for _, port in FIXED}, urls


def test_linker_demo_serves_while_its_ports_are_taken(tmp_path: Path) -> None:
    with demo_ports_held(), (tmp_path / "demo.log").open("w") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "linker", "demo", *FREE_PORTS],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            assert demo.stdout is not None
            first = demo.stdout.readline()
            found = re.fullmatch(r"Open (http://localhost:(\d+)) and sign in\n", first)
            assert found, (tmp_path / "demo.log").read_text()[-2000:]
            assert int(found[2]) != cli.APP_PORT
            assert "Sign in" in httpx.get(found[1], timeout=10).text
        finally:
            demo.terminate()
            demo.communicate(timeout=30)
    assert demo.returncode == 0, (tmp_path / "demo.log").read_text()[-2000:]
