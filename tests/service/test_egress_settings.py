"""The egress proxy and trust settings, and what `linker check` says of them."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from linker.check import check_tenant
from linker.settings import Settings, SettingsError
from linker.tenant.http import upstream_client
from tests.support.forward_proxy import ForwardProxy
from tests.support.harness import make_settings, settings_env
from tests.support.tls import self_signed


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("proxy.example:3128", "must be a URL such as http://proxy.example:3128"),
        ("socks5://proxy.example:1080", "must be a URL such as http://proxy.example:3128"),
        ("http://proxy.example:99999", "must be a URL such as http://proxy.example:3128"),
        ("http://proxy.example:3128/path", "must be the proxy's address only"),
    ],
)
def test_a_bad_proxy_url_is_named_without_its_value(value: str, problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(settings_env(LINKER_PROXY_URL=value.replace("proxy", "u:pw@proxy")))
    assert refused.value.name == "LINKER_PROXY_URL"
    assert refused.value.problem.startswith(problem)
    assert "pw" not in str(refused.value)


def test_the_proxy_url_is_a_secret() -> None:
    settings = make_settings(LINKER_PROXY_URL="http://user:s3cret@proxy.example:3128")
    assert "s3cret" not in repr(settings)
    described = upstream_client(settings).route("https://tenant.example/").describe()
    assert described == "through proxy http://proxy.example:3128 (from LINKER_PROXY_URL)"


def test_a_ca_file_must_hold_certificates(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    for value, problem in (
        (str(tmp_path / "missing.pem"), "no file at"),
        (str(not_pem), "is not a readable PEM file of CA certificates"),
    ):
        with pytest.raises(SettingsError) as refused:
            Settings.from_env(settings_env(LINKER_CA_FILE=value))
        assert refused.value.name == "LINKER_CA_FILE"
        assert problem in refused.value.problem
    cert_file, _ = self_signed(tmp_path)
    assert make_settings(LINKER_CA_FILE=str(cert_file)).ca_file == cert_file


@contextlib.asynccontextmanager
async def tls_tenant(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A TLS server for `localhost` with a self-signed certificate; every answer is a 404."""
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    async with server:
        yield f"localhost:{server.sockets[0].getsockname()[1]}", cert_file
        server.close()


async def test_check_says_a_refused_certificate_in_one_line(tmp_path: Path) -> None:
    async with tls_tenant(tmp_path) as (domain, cert_file):
        refused = await check_tenant(make_settings(LINKER_AUTH0_DOMAIN=domain))
        trusted = await check_tenant(
            make_settings(
                LINKER_AUTH0_DOMAIN=domain,
                LINKER_CA_FILE=str(cert_file),
                LINKER_UPSTREAM_BUDGET="0.5",
            )
        )
    [line] = refused.problems
    assert line.startswith(f"LINKER_AUTH0_DOMAIN: TLS to https://{domain}/")
    assert "certificate verify failed" in line
    assert line.endswith("trust its CA with LINKER_CA_FILE")
    assert "\n" not in line
    # Trusted, the check goes on: the next problem is the (missing) OpenID configuration.
    assert trusted.problems[0].startswith("LINKER_AUTH0_DOMAIN: no OpenID configuration")


async def test_check_says_which_proxy_it_used(tmp_path: Path) -> None:
    proxy = ForwardProxy()
    async with tls_tenant(tmp_path) as (domain, cert_file), proxy.running():
        settings = make_settings(
            LINKER_AUTH0_DOMAIN=domain,
            LINKER_CA_FILE=str(cert_file),
            LINKER_PROXY_URL=proxy.url,
            LINKER_UPSTREAM_BUDGET="0.5",
        )
        report = await check_tenant(settings)
    assert report.route == f"through proxy {proxy.url} (from LINKER_PROXY_URL)"
    assert proxy.asked[0] == f"CONNECT {domain}"


async def test_check_is_quiet_about_the_route_when_no_proxy_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    async with tls_tenant(tmp_path) as (domain, cert_file):
        settings = make_settings(
            LINKER_AUTH0_DOMAIN=domain, LINKER_CA_FILE=str(cert_file), LINKER_UPSTREAM_BUDGET="0.5"
        )
        report = await check_tenant(settings)
    assert report.route is None
