"""linker.core.keys: the tenant's key set, cached, refetched for an unknown `kid` at a bounded
rate, and kept while a refresh fails."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc.jwk import RSAKey

from linker.core.errors import Code, LinkError
from linker.core.keys import KeyCache, NoSigningKey
from linker.testing import FakeClock


class Tenant:
    """A JWKS endpoint whose answer the test sets; counts the fetches."""

    def __init__(self, *keys: RSAKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.down = False

    async def fetch(self) -> dict[str, Any]:
        self.fetches += 1
        if self.down:
            raise LinkError(Code.UPSTREAM_UNAVAILABLE, "The tenant did not answer.")
        return {"keys": [k.as_dict(private=False) for k in self.keys]}


def cache(tenant: Tenant, clock: FakeClock) -> KeyCache:
    return KeyCache(tenant.fetch, clock=clock, cooldown=30.0, max_age=3600.0)


async def test_keys_are_fetched_once_and_reused(rsa_key: RSAKey, clock: FakeClock) -> None:
    tenant = Tenant(rsa_key)
    keys = cache(tenant, clock)
    assert not keys.loaded
    await keys.keys_for("key-1")
    await keys.keys_for("key-1")
    assert keys.loaded and tenant.fetches == 1


async def test_an_unknown_kid_is_refetched_at_most_once_per_cooldown(
    rsa_key: RSAKey, other_rsa_key: RSAKey, clock: FakeClock
) -> None:
    tenant = Tenant(rsa_key)
    keys = cache(tenant, clock)
    await keys.keys_for("key-1")
    for _ in range(5):
        await keys.keys_for("made-up")
    assert tenant.fetches == 1
    tenant.keys.append(other_rsa_key)
    clock.advance(31)
    found = await keys.keys_for("key-2")
    assert tenant.fetches == 2
    assert found.get_by_kid("key-2") is not None


async def test_stale_keys_are_refreshed(rsa_key: RSAKey, clock: FakeClock) -> None:
    tenant = Tenant(rsa_key)
    keys = cache(tenant, clock)
    await keys.keys_for(None)
    clock.advance(3601)
    await keys.keys_for(None)
    assert tenant.fetches == 2


async def test_keys_held_are_kept_while_a_refresh_fails(rsa_key: RSAKey, clock: FakeClock) -> None:
    tenant = Tenant(rsa_key)
    keys = cache(tenant, clock)
    await keys.keys_for("key-1")
    tenant.down = True
    clock.advance(3601)
    assert (await keys.keys_for("key-1")).get_by_kid("key-1") is not None


async def test_with_no_keys_a_failure_is_not_repeated_within_the_cooldown(
    rsa_key: RSAKey, clock: FakeClock
) -> None:
    tenant = Tenant(rsa_key)
    tenant.down = True
    keys = cache(tenant, clock)
    for _ in range(3):
        with pytest.raises(LinkError) as failed:
            await keys.keys_for("key-1")
        assert failed.value.status == "failed"
    assert tenant.fetches == 1


async def test_a_key_set_without_an_rs256_signing_key_is_an_outage(clock: FakeClock) -> None:
    keys = cache(Tenant(), clock)
    with pytest.raises(NoSigningKey) as failed:
        await keys.keys_for("key-1")
    assert failed.value.code is Code.UPSTREAM_UNAVAILABLE
