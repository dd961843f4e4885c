"""A managed-style Redis: TLS only, verified against the CA in `LINKER_REDIS_CA_FILE`, and an
ACL user whose password is in the URL (or in `LINKER_STORE_URL_FILE`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from linker.check import check_store, store_address
from linker.state.store import RedisStore, StoreUnavailable
from linker.state.store_check import inspect_store
from linker.testing import FakeClock
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import make_settings, running
from tests.support.redis_server import redis_tls_server

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with redis_tls_server(tmp_path_factory.mktemp("tls"), user="linker", password="s3cret-pw") as (
        url,
        ca,
    ):
        yield url, ca


async def test_a_link_over_tls_with_an_acl_user_from_a_url_file(
    tls: tuple[str, Path], tenant: FakeTenant, clock: FakeClock, tmp_path: Path
) -> None:
    url, ca = tls
    url_file = tmp_path / "store-url"
    url_file.write_text(url + "\n")
    settings = make_settings(LINKER_STORE_URL_FILE=str(url_file), LINKER_REDIS_CA_FILE=str(ca))
    async with running(tenant, clock, settings) as harness:  # the store the settings name
        assert isinstance(harness.runtime.attempts.store, RedisStore)
        assert (await harness.link()).status == "linked"
    report = await inspect_store(settings)
    assert report.problems == []


async def test_a_certificate_from_another_ca_is_refused(tls: tuple[str, Path]) -> None:
    url, _ = tls
    store = RedisStore.from_url(url)  # the system's CAs do not know this one
    try:
        with pytest.raises(StoreUnavailable):
            await store.put("k", "v", 60)
    finally:
        await store.aclose()


async def test_a_wrong_password_is_a_store_that_cannot_be_used(tls: tuple[str, Path]) -> None:
    url, ca = tls
    store = RedisStore.from_url(url.replace("s3cret-pw", "wrong"), ca_file=str(ca))
    try:
        with pytest.raises(StoreUnavailable):
            await store.put("k", "v", 60)
    finally:
        await store.aclose()


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1].split("/")[0]


@pytest.mark.parametrize(
    ("change", "with_ca", "why"),
    [
        (
            lambda url: url,
            False,
            "its TLS certificate is not trusted (self-signed certificate in certificate chain); "
            "LINKER_REDIS_CA_FILE names the CA that signs it",
        ),
        (
            lambda url: url.replace("s3cret-pw", "not-the-password"),
            True,
            "refused the user name or password",
        ),
        (
            lambda url: url.replace("rediss://", "redis://"),
            True,
            "the connection was closed at once: a server that speaks only TLS needs rediss://",
        ),
    ],
    ids=["untrusted-certificate", "wrong-password", "plain-to-tls-only"],
)
async def test_check_names_why_the_store_cannot_be_used(
    tls: tuple[str, Path], change: Callable[[str], str], with_ca: bool, why: str
) -> None:
    url, ca = tls
    settings = {"LINKER_REDIS_CA_FILE": str(ca)} if with_ca else {}
    problems = await check_store(make_settings(LINKER_STORE_URL=change(url), **settings))
    where = f"Redis at 127.0.0.1:{port_of(url)}"
    separator = " " if why.startswith("refused") else ": "
    assert problems == [
        f"LINKER_STORE_URL: the store at {store_address(change(url))} cannot be used: "
        f"{where}{separator}{why}; linker serve would answer /readyz 503"
    ]
    assert "s3cret-pw" not in problems[0] and "not-the-password" not in problems[0]
