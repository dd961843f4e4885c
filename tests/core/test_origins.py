"""`same_origin`: scheme, host and port (the default port filled in), nothing else."""

from __future__ import annotations

import pytest

from linker.core.origins import same_origin


@pytest.mark.parametrize(
    ("url", "other"),
    [
        ("https://tenant.example.com/oauth/token", "https://tenant.example.com"),
        ("https://tenant.example.com:443/x", "https://TENANT.example.com"),
        ("http://127.0.0.1:8700/authorize", "http://127.0.0.1:8700"),
    ],
)
def test_the_same_origin(url: str, other: str) -> None:
    assert same_origin(url, other)


@pytest.mark.parametrize(
    "url",
    [
        "http://tenant.example.com/oauth/token",  # another scheme
        "https://collector.example/oauth/token",  # another host
        "https://tenant.example.com:8443/",  # another port
        "null",  # an opaque origin
        "https://[",  # no parser reads it
        "https://tenant.example.com:port/",
    ],
)
def test_another_origin(url: str) -> None:
    assert not same_origin(url, "https://tenant.example.com")
