"""`linker demo`'s four servers on free loopback ports, for the walk-through tests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from linker.demo.cli import DemoUrls, demo_servers, listen, parse_args

# Every server of the demo on a port the OS picks, never the demo's fixed defaults: a
# `make demo` may be running beside the tests.
FREE_PORTS = ("--tenant-port", "0", "--linker-port", "0", "--app-port", "0", "--spa-port", "0")


@pytest.fixture(scope="module")
def demo_urls() -> Iterator[DemoUrls]:
    urls, sockets = listen(parse_args(FREE_PORTS))
    servers = demo_servers(urls, sockets)
    exit_codes: list[int] = []
    thread = threading.Thread(
        target=lambda: exit_codes.append(asyncio.run(servers.run())), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 20
    while not servers.ready.is_set():
        assert thread.is_alive() and time.monotonic() < deadline, "the demo did not start"
        time.sleep(0.02)
    yield urls
    servers.stop()
    thread.join(timeout=20)
    assert exit_codes == [0]
