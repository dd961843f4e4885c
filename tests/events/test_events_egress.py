"""Events leave the host as the calls to the tenant do: through `LINKER_PROXY_URL`, or the
proxy the environment names for the endpoint (unless `NO_PROXY` names it), and over TLS
that trusts `LINKER_CA_FILE` beside the system's CAs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linker.core import events
from linker.core.secret import Secret
from linker.ops.webhooks import WebhookSender
from linker.steps.delivery import ping
from linker.testing.events import EventSink
from tests.events.support import EVENTS_SECRET
from tests.support.forward_proxy import ForwardProxy
from tests.support.harness import make_settings
from tests.support.tls import tls_only_server

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def sink() -> Iterator[EventSink]:
    with EventSink(EVENTS_SECRET) as receiving:
        yield receiving


@pytest.fixture(autouse=True)
def no_proxy_from_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def test_events_go_through_the_proxy_linker_proxy_url_names(sink: EventSink) -> None:
    proxy = ForwardProxy()
    async with proxy.running():
        settings = make_settings(
            LINKER_EVENTS_URL=sink.url,
            LINKER_EVENTS_SECRET=EVENTS_SECRET,
            LINKER_PROXY_URL=proxy.url,
        )
        took, line = await ping(settings, now=time.time())
    assert took, line
    assert f"through proxy {proxy.url} (from LINKER_PROXY_URL)" in line
    assert proxy.asked == [f"POST {sink.url}"]
    assert len(sink.events) == 1


async def test_events_follow_the_environments_proxy_and_its_exceptions(
    sink: EventSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = ForwardProxy()
    settings = make_settings(LINKER_EVENTS_URL=sink.url, LINKER_EVENTS_SECRET=EVENTS_SECRET)
    async with proxy.running():
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        took, line = await ping(settings, now=time.time())
        assert took and "(from HTTP_PROXY)" in line
        assert proxy.asked == [f"POST {sink.url}"]
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        took, line = await ping(settings, now=time.time())
    assert took and "proxy" not in line
    assert len(proxy.asked) == 1 and len(sink.events) == 2


async def test_an_endpoint_signed_by_a_private_ca_is_trusted_through_linker_ca_file(
    tmp_path: Path,
) -> None:
    event = events.ping(audit_id="a-1", time=time.time())
    with tls_only_server(tmp_path) as port:
        url = f"https://localhost:{port}/events"
        untrusted = WebhookSender(url, Secret(EVENTS_SECRET))
        trusted = WebhookSender(url, Secret(EVENTS_SECRET), ca_file=tmp_path / "cert.pem")
        try:
            refused = await untrusted.send(event, now=time.time())
            taken = await trusted.send(event, now=time.time())
        finally:
            await untrusted.aclose()
            await trusted.aclose()
    assert not refused.delivered
    assert refused.reason == "TLS certificate refused: self-signed certificate"
    assert taken.delivered and taken.status == 200
