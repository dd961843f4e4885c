"""`linker check`'s tenant checks through the service's own `Tenant`, with the tenant faked."""

from __future__ import annotations

from typing import Any

import httpx

from linker.check import check_store, check_tenant, store_address, unknown_names
from linker.state.store import MemoryStore, StoreUnavailable
from tests.support.harness import make_settings
from tests.support.httpx_upstream import HttpxUpstream

DISCOVERY = {
    "issuer": "https://tenant.test/",
    "jwks_uri": "https://tenant.test/.well-known/jwks.json",
    "token_endpoint": "https://tenant.test/oauth/token",
    "authorization_endpoint": "https://tenant.test/authorize",
}


def tenant(jwks: httpx.Response) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=DISCOVERY)
        if request.url.path == "/.well-known/jwks.json":
            return jwks
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "not-a-jwt", "expires_in": 60})
        return httpx.Response(403, json={"error": "insufficient_scope"})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


async def test_an_empty_key_set_is_a_problem() -> None:
    async with tenant(httpx.Response(200, json={"keys": []})) as http:
        report = await check_tenant(make_settings(), http=HttpxUpstream(http))
    assert report.problems == ["tenant: the key set has no RS256 signing key"]
    assert len(report.notes) == 2  # neither the client nor the grant could be read


async def test_unreadable_keys_are_a_problem() -> None:
    async with tenant(httpx.Response(500)) as http:
        report = await check_tenant(
            make_settings(LINKER_UPSTREAM_BUDGET="0.3"), http=HttpxUpstream(http)
        )
    assert len(report.problems) == 1
    assert report.problems[0].startswith("tenant: signing keys could not be read")


def test_unknown_names_ignore_other_variables_and_file_variants() -> None:
    env = {"HOME": "/root", "LINKER_CLIENT_SECRET_FILE": "/run/secret", "LINKER_PIN_IPS": "1"}
    assert unknown_names(env) == [
        "LINKER_PIN_IPS: not a linker setting; did you mean LINKER_PIN_IP?"
    ]


async def test_a_tenant_that_keeps_failing_is_told_in_the_operators_words() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        report = await check_tenant(
            make_settings(LINKER_UPSTREAM_BUDGET="0.3"), http=HttpxUpstream(http)
        )
    assert report.problems == [
        "LINKER_AUTH0_DOMAIN: no OpenID configuration at https://tenant.test (no usable "
        "answer within LINKER_UPSTREAM_BUDGET (0.3 s), retries included)"
    ]


def test_the_store_address_keeps_no_password() -> None:
    assert store_address("redis://user:pw@redis.internal:6380/2") == "redis://redis.internal:6380/2"
    assert store_address("rediss://redis.internal/0") == "rediss://redis.internal/0"


class ReadOnlyStore(MemoryStore):
    async def put(self, *args: Any, **kwargs: Any) -> bool:
        raise StoreUnavailable("ReadOnlyError")


async def test_a_read_only_store_is_named_as_such() -> None:
    settings = make_settings(LINKER_STORE_URL="redis://:pw@replica:6379/0")
    assert await check_store(settings, store=ReadOnlyStore()) == [
        "LINKER_STORE_URL: the store at redis://replica:6379/0 is a read-only replica "
        "(ReadOnlyError); linker serve would answer /readyz 503"
    ]
    assert await check_store(settings, store=MemoryStore()) == []
