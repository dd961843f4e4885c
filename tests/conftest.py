from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from joserfc.jwk import RSAKey

from linker.testing import FakeClock
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import PRIMARY, SECONDARY, Harness, make_settings, running
from tests.support.redis_server import redis_server

# The e2e tests' `stack` and `e2e` fixtures, enabled as a user's suite would enable them.
pytest_plugins = ["linker.testing.pytest_plugin", "pytester"]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server for the module's tests (as replicas would share it)."""
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "key-1", "use": "sig"})


@pytest.fixture(scope="session")
def other_rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "key-2", "use": "sig"})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tenant(rsa_key: RSAKey, clock: FakeClock) -> FakeTenant:
    fake = FakeTenant(key=rsa_key, clock=clock)
    fake.add_user(PRIMARY, email="alice@example.com", user_metadata={"theme": "dark"})
    fake.add_user(
        SECONDARY,
        email="alice@example.com",
        user_metadata={"theme": "light", "github": {"handle": "alice"}},
    )
    return fake


@pytest.fixture
def env_overrides() -> dict[str, str]:
    return {}


@pytest.fixture
async def harness(
    tenant: FakeTenant, clock: FakeClock, env_overrides: dict[str, str]
) -> AsyncIterator[Harness]:
    async with running(tenant, clock, make_settings(**env_overrides)) as harness:
        yield harness
