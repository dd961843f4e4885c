"""Servers bind their sockets before they start: IPv4 first, an address the host cannot use
(::1 where IPv6 is off) left out, and a port that cannot be bound named."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from linker.testing import StartError
from linker.testing.servers import bind


def test_localhost_binds_ipv4_first_and_leaves_out_what_cannot_be_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = socket.getaddrinfo

    def ipv6_listed_first(host: str, *args: Any, **kwargs: Any) -> Any:
        stream = socket.SOCK_STREAM
        unusable = (socket.AF_INET6, stream, 6, "", ("2001:db8::1", 0, 0, 0))
        return [unusable, *real("127.0.0.1", *args, **kwargs)]

    monkeypatch.setattr(socket, "getaddrinfo", ipv6_listed_first)
    sockets = bind("localhost", 0)
    try:
        assert [s.family for s in sockets] == [socket.AF_INET]
        assert sockets[0].getsockname()[0] == "127.0.0.1"
    finally:
        for sock in sockets:
            sock.close()


def test_a_port_in_use_is_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartError, match=f"^cannot listen on 127.0.0.1:{port} "):
            bind("127.0.0.1", port)
