"""The tenant's key set on a bad day: unreadable for a while, or rotated just after linker read
it. A token whose `kid` linker does not hold is refused only once a set read after that `kid`
was first seen lacks it; until then the answer is `failed/upstream_unavailable` (try again),
never a `denied` that blames the user. The refetch stays rate bound."""

from __future__ import annotations

import httpx
import pytest
from joserfc.jwk import RSAKey

from tests.support.harness import PRIMARY, Harness, nested_state, read_resume

JWKS = "GET /.well-known/jwks.json"
COOLDOWN = 30


def garbage(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="<html>upstream error</html>")


def broken_key(request: httpx.Request) -> httpx.Response:
    key = {"kty": "RSA", "kid": "key-2", "n": "!!", "e": "AQ"}  # not base64url: unreadable
    return httpx.Response(200, json={"keys": [key]})


async def start_with(harness: Harness, key: RSAKey) -> tuple[str, str | None]:
    started = await harness.start(id_token_hint=harness.tenant.id_token(key=key, sub=PRIMARY))
    if started.status_code == 302 and "/authorize" in started.headers["location"]:
        return "redirect", None
    resumed = read_resume(started)
    return resumed.status, resumed.error


async def test_a_new_kid_while_the_key_set_is_unreadable_is_try_again(
    harness: Harness, other_rsa_key: RSAKey
) -> None:
    assert (await harness.start()).status_code == 302  # the old set is held
    harness.clock.now += COOLDOWN_PASSED
    harness.tenant.extra_keys.append(other_rsa_key)  # rotated in...
    harness.tenant.fail(JWKS, *[garbage] * 100)  # ...while the set reads as garbage
    for _ in range(5):  # one fetch, then none within the cool-down
        assert await start_with(harness, other_rsa_key) == ("failed", "upstream_unavailable")
    assert harness.tenant.calls[JWKS] == 2
    harness.tenant.faults.clear()
    harness.tenant.fail(JWKS, *[broken_key] * 100)  # a set whose key cannot be imported
    harness.clock.now += COOLDOWN_PASSED
    assert await start_with(harness, other_rsa_key) == ("failed", "upstream_unavailable")
    assert (await harness.start()).status_code == 302  # the key held still serves its tokens
    assert harness.tenant.calls[JWKS] == 3
    harness.tenant.faults.clear()
    harness.clock.now += COOLDOWN_PASSED
    # Readable again: the first fetch that succeeds serves the new key at once.
    assert await start_with(harness, other_rsa_key) == ("redirect", None)
    assert await start_with(harness, other_rsa_key) == ("redirect", None)
    assert harness.tenant.calls[JWKS] == 4


async def test_a_key_rotated_in_just_after_a_fetch_is_try_again_then_accepted(
    harness: Harness, other_rsa_key: RSAKey
) -> None:
    assert (await harness.start()).status_code == 302  # the set is read now
    harness.clock.now += 5
    harness.tenant.extra_keys.append(other_rsa_key)
    for _ in range(3):  # the rate bound holds: looked up once, when it allows
        assert await start_with(harness, other_rsa_key) == ("failed", "upstream_unavailable")
    assert harness.tenant.calls[JWKS] == 1
    harness.clock.now += COOLDOWN_PASSED
    assert await start_with(harness, other_rsa_key) == ("redirect", None)
    assert harness.tenant.calls[JWKS] == 2


async def test_a_kid_the_set_read_after_it_lacks_is_denied(
    harness: Harness, other_rsa_key: RSAKey
) -> None:
    assert (await harness.start()).status_code == 302
    harness.clock.now += COOLDOWN_PASSED
    rogue = RSAKey.import_key(other_rsa_key.as_dict(private=True) | {"kid": "rogue"})
    assert await start_with(harness, rogue) == ("denied", "invalid_id_token_hint")
    for _ in range(3):  # and stays so, without another request to the tenant
        assert await start_with(harness, rogue) == ("denied", "invalid_id_token_hint")
    assert harness.tenant.calls[JWKS] == 2


async def test_a_secondary_token_under_a_new_kid_while_keys_are_unreadable_is_try_again(
    harness: Harness, other_rsa_key: RSAKey
) -> None:
    started = await harness.start()  # keys held
    harness.clock.now += COOLDOWN_PASSED
    harness.tenant.extra_keys.append(other_rsa_key)
    harness.tenant.fail(JWKS, *[garbage] * 100)
    code = harness.tenant.login(started.headers["location"], sub="github|1001", key=other_rsa_key)
    resumed = read_resume(await harness.callback(code=code, state=nested_state(started)))
    assert (resumed.status, resumed.error) == ("failed", "upstream_unavailable")


COOLDOWN_PASSED = COOLDOWN + 1


@pytest.mark.parametrize("keys", [None, 5, True, "key", {"kty": "RSA"}])
async def test_a_key_set_whose_keys_are_not_a_list_is_try_again(
    harness: Harness, keys: object
) -> None:
    """JSON, but not a set of keys: the tenant's keys are out, as with garbage: the login
    resumes `failed` `upstream_unavailable`, and `/readyz` says not ready."""
    harness.tenant.fail(JWKS, *[lambda request: httpx.Response(200, json={"keys": keys})] * 10)
    resumed = read_resume(await harness.start())
    assert (resumed.status, resumed.error) == ("failed", "upstream_unavailable")
    assert (await harness.client.get("/readyz")).status_code == 503
