"""Step 3 of /link/start: the id_token_hint must be the app's RS256 ID token for this user."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from joserfc.jwk import RSAKey

from linker.core.claims import LEEWAY
from tests.service.test_start_token_attacks import b64
from tests.support.harness import Harness, read_resume


async def denied(harness: Harness, **claims: Any) -> str | None:
    resumed = read_resume(await harness.start(**claims))
    assert resumed.status == "denied"
    assert resumed.state == harness.outer_state
    assert harness.tenant.calls["GET /authorize"] == 0
    return resumed.error


async def test_missing_hint(harness: Harness) -> None:
    assert await denied(harness, id_token_hint=None) == "missing_id_token_hint"


async def test_algorithm_confusion_hs256_with_public_key_is_refused(harness: Harness) -> None:
    public_pem = harness.tenant.key.as_pem(private=False)
    claims = {
        "iss": "https://tenant.test/",
        "aud": "app-client",
        "sub": "google-oauth2|alice",
        "iat": int(harness.clock()),
        "exp": int(harness.clock()) + 3600,
    }
    # Signed by hand: joserfc itself refuses to use a PEM public key as an HMAC secret.
    signing_input = f"{b64({'alg': 'HS256', 'kid': 'key-1'})}.{b64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert await denied(harness, id_token_hint=forged) == "invalid_id_token_hint"


async def test_hint_for_another_user(harness: Harness) -> None:
    hint = harness.hint(sub="google-oauth2|mallory")
    assert await denied(harness, id_token_hint=hint) == "sub_mismatch"


async def test_hint_for_another_audience(harness: Harness) -> None:
    hint = harness.hint(aud="other-app")
    assert await denied(harness, id_token_hint=hint) == "invalid_id_token_hint"


async def test_hint_from_another_issuer(harness: Harness) -> None:
    hint = harness.hint(iss="https://evil.example.com/")
    assert await denied(harness, id_token_hint=hint) == "invalid_id_token_hint"


async def test_expired_hint(harness: Harness) -> None:
    now = int(harness.clock())
    hint = harness.hint(iat=now - LEEWAY - 200, exp=now - LEEWAY - 1)
    assert await denied(harness, id_token_hint=hint) == "invalid_id_token_hint"


async def test_hint_too_old(harness: Harness) -> None:
    now = int(harness.clock())
    hint = harness.hint(iat=now - 601, exp=now + 3600)
    assert await denied(harness, id_token_hint=hint) == "id_token_hint_too_old"


async def test_hint_signed_by_unknown_key_is_refused_and_cannot_hammer_jwks(
    harness: Harness, other_rsa_key: RSAKey
) -> None:
    rogue = RSAKey.import_key(other_rsa_key.as_dict(private=True) | {"kid": "rogue"})
    hint = harness.tenant.id_token(key=rogue)
    for _ in range(5):
        assert await denied(harness, id_token_hint=hint) == "invalid_id_token_hint"
    assert harness.tenant.calls["GET /.well-known/jwks.json"] == 1  # the first load only
    harness.clock.now += 31  # past the cooldown: one refetch for the unknown kid, no more
    for _ in range(5):
        assert await denied(harness, id_token_hint=hint) == "invalid_id_token_hint"
    assert harness.tenant.calls["GET /.well-known/jwks.json"] == 2


async def test_hint_signed_by_a_rotated_in_key_is_accepted(
    harness: Harness, other_rsa_key: RSAKey
) -> None:
    assert (await harness.start()).status_code == 302  # keys cached
    harness.clock.now += 31  # past the refetch cooldown
    harness.tenant.extra_keys.append(other_rsa_key)
    hint = harness.tenant.id_token(key=other_rsa_key, sub="google-oauth2|alice")
    assert (await harness.start(id_token_hint=hint)).status_code == 302


async def test_hint_with_forged_signature_under_known_kid(
    harness: Harness, other_rsa_key: RSAKey
) -> None:
    impostor = RSAKey.import_key(other_rsa_key.as_dict(private=True) | {"kid": "key-1"})
    hint = harness.tenant.id_token(key=impostor, sub="google-oauth2|alice")
    assert await denied(harness, id_token_hint=hint) == "invalid_id_token_hint"


async def test_malformed_hint(harness: Harness) -> None:
    assert await denied(harness, id_token_hint="not.a.token") == "invalid_id_token_hint"


async def test_hint_whose_azp_names_another_client(harness: Harness) -> None:
    hint = harness.hint(azp="another-app")
    assert await denied(harness, id_token_hint=hint) == "invalid_id_token_hint"


async def test_hint_not_valid_yet(harness: Harness) -> None:
    hint = harness.hint(nbf=int(harness.clock()) + 600)
    assert await denied(harness, id_token_hint=hint) == "invalid_id_token_hint"


async def test_hint_with_a_time_that_is_not_finite(harness: Harness) -> None:
    hint = harness.hint(exp=float("inf"))
    assert await denied(harness, id_token_hint=hint) == "invalid_id_token_hint"
    hint = harness.hint(iat=float("nan"))
    assert await denied(harness, id_token_hint=hint) == "invalid_id_token_hint"
