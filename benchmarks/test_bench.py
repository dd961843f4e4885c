"""Benchmarks of the hot paths: `make bench`. Not run by `make test`.

The numbers that matter: token checks per start, and a whole start + callback in-process
against the faked tenant (no network), which bounds what one worker can serve.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from joserfc.jwk import KeySet, RSAKey

from linker.app import create_app
from linker.idtokens import verify_rs256
from linker.merge import merge_metadata
from linker.store import MemoryStore
from linker.tokens import decode_start_token
from linker.upstream import Retrier
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import (
    PRIMARY,
    SECONDARY,
    Clock,
    Harness,
    hs256,
    make_settings,
    nested_state,
    read_resume,
)


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


def test_decode_start_token(benchmark: Any, key: RSAKey) -> None:
    settings = make_settings()
    clock = Clock()
    tenant = FakeTenant(key=key, clock=clock)
    harness = Harness(tenant=tenant, clock=clock, client=None, settings=settings)  # type: ignore[arg-type]
    token = hs256(harness.start_claims())
    result = benchmark(
        decode_start_token,
        token,
        secrets=settings.action_secrets,
        domain="tenant.test",
        now=clock(),
    )
    assert result.sub == PRIMARY


def test_verify_hint_rs256(benchmark: Any, key: RSAKey) -> None:
    tenant = FakeTenant(key=key, clock=Clock())
    token = tenant.id_token(sub=PRIMARY)
    keys = KeySet([key])
    assert benchmark(verify_rs256, token, keys)["sub"] == PRIMARY


def test_merge_metadata(benchmark: Any) -> None:
    primary = {f"k{i}": {"nested": {"a": i, "b": [i]}} for i in range(50)}
    secondary = {f"k{i}": {"nested": {"c": i}} for i in range(25, 75)}
    merged = benchmark(merge_metadata, primary, secondary, "primary-wins")
    assert len(merged) == 75


def test_start_and_callback_in_process(benchmark: Any, key: RSAKey) -> None:
    """One whole link (start, nested login, callback) against the faked tenant."""
    loop = asyncio.new_event_loop()
    clock = Clock()
    tenant = FakeTenant(key=key, clock=clock)
    tenant.add_user(PRIMARY, email="alice@example.com")
    settings = make_settings()
    upstream = httpx.AsyncClient(transport=tenant.transport())
    app = create_app(
        settings,
        http=upstream,
        store=MemoryStore(),
        clock=clock,
        retrier=Retrier(clock=clock, sleep=clock.sleep),
    )
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    client = httpx.AsyncClient(transport=transport, base_url=settings.public_url)
    harness = Harness(tenant=tenant, clock=clock, client=client, settings=settings)

    async def one_link() -> str:
        tenant.users[PRIMARY]["identities"] = tenant.users[PRIMARY]["identities"][:1]
        tenant.add_user(SECONDARY, email="alice@example.com")
        started = await harness.start()
        code = tenant.login(started.headers["location"], sub=SECONDARY)
        done = await harness.callback(code=code, state=nested_state(started))
        return read_resume(done).status

    assert benchmark(lambda: loop.run_until_complete(one_link())) == "linked"
    loop.run_until_complete(client.aclose())
    loop.run_until_complete(upstream.aclose())
    loop.close()
