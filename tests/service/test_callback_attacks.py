"""/link/callback: replay, lost or foreign cookies, and every check on the nested login."""

from __future__ import annotations

import pytest

from tests.support.fake_tenant import s256
from tests.support.harness import (
    PRIMARY,
    SECONDARY,
    Harness,
    assert_dead_end,
    nested_state,
    read_resume,
)


async def callback_error(harness: Harness, sub: str = SECONDARY, **claims: object) -> str | None:
    linked = await harness.link(sub, **claims)
    assert linked.status in ("denied", "failed")
    assert linked.resumed.state == harness.outer_state
    return linked.error


async def test_replayed_callback_finds_nothing(harness: Harness) -> None:
    started = await harness.start()
    cookies = dict(harness.client.cookies)
    code = harness.tenant.login(started.headers["location"], sub=SECONDARY)
    state = nested_state(started)
    assert read_resume(await harness.callback(code=code, state=state)).status == "pending"
    # The resume page cleared the cookie: a replay from this browser is a dead end...
    assert_dead_end(await harness.callback(code=code, state=state), "browser_mismatch")
    # ...and with the cookie put back, the transaction is gone.
    for name, value in cookies.items():
        harness.client.cookies.set(name, value, path="/link")
    assert_dead_end(await harness.callback(code=code, state=state), "transaction_not_found")
    assert harness.tenant.calls["POST /oauth/token"] == 1  # the code was exchanged once


async def test_unknown_or_missing_state(harness: Harness) -> None:
    assert_dead_end(await harness.callback(code="x", state="made-up"), "browser_mismatch")
    assert_dead_end(await harness.callback(code="x"), "browser_mismatch")


async def test_callback_without_the_cookie_destroys_nothing(harness: Harness) -> None:
    started = await harness.start()
    cookies = dict(harness.client.cookies)
    code = harness.tenant.login(started.headers["location"], sub=SECONDARY)
    harness.client.cookies.clear()
    response = await harness.callback(code=code, state=nested_state(started))
    assert_dead_end(response, "browser_mismatch")
    assert harness.tenant.calls["POST /oauth/token"] == 0  # nothing exchanged, nothing taken
    # The victim's own browser still finishes the attempt.
    for name, value in cookies.items():
        harness.client.cookies.set(name, value, path="/link")
    linked = await harness.finish(await harness.callback(code=code, state=nested_state(started)))
    assert linked.status == "linked"


async def test_callback_with_another_browsers_cookie(harness: Harness) -> None:
    victim = await harness.start()
    victim_cookies = dict(harness.client.cookies)
    harness.client.cookies.clear()
    attacker = await harness.start()
    attacker_value = next(iter(harness.client.cookies.values()))
    harness.client.cookies.clear()
    # The attacker renames their own valid cookie to the victim's transaction's cookie name.
    victim_name = next(iter(victim_cookies))
    harness.client.cookies.set(victim_name, attacker_value, path="/link")
    code = harness.tenant.login(victim.headers["location"], sub=SECONDARY)
    assert_dead_end(
        await harness.callback(code=code, state=nested_state(victim)), "browser_mismatch"
    )
    assert attacker.status_code == 302


async def test_tampered_cookie(harness: Harness) -> None:
    started = await harness.start()
    name = next(iter(harness.client.cookies))
    harness.client.cookies.set(name, harness.client.cookies[name] + "x", path="/")
    code = harness.tenant.login(started.headers["location"], sub=SECONDARY)
    assert_dead_end(
        await harness.callback(code=code, state=nested_state(started)), "browser_mismatch"
    )


async def test_expired_transaction(harness: Harness) -> None:
    started = await harness.start()
    harness.clock.now += 601
    code = harness.tenant.login(started.headers["location"], sub=SECONDARY)
    assert_dead_end(
        await harness.callback(code=code, state=nested_state(started)), "transaction_expired"
    )


async def test_cancelled_nested_login(harness: Harness) -> None:
    started = await harness.start()
    resumed = read_resume(
        await harness.callback(
            error="access_denied", error_description="User cancelled", state=nested_state(started)
        )
    )
    assert (resumed.status, resumed.error) == ("denied", "cancelled")


async def test_failed_nested_login(harness: Harness) -> None:
    started = await harness.start()
    resumed = read_resume(
        await harness.callback(
            error="server_error", error_description="<b>boom</b>", state=nested_state(started)
        )
    )
    assert (resumed.status, resumed.error) == ("failed", "secondary_login_failed")


async def test_callback_without_code(harness: Harness) -> None:
    started = await harness.start()
    resumed = read_resume(await harness.callback(state=nested_state(started)))
    assert resumed.error == "secondary_login_failed"


async def test_code_minted_for_another_pkce_verifier(harness: Harness) -> None:
    started = await harness.start()
    code = harness.tenant.login(started.headers["location"], sub=SECONDARY)
    harness.tenant.codes[code].challenge = s256("the attacker's verifier")
    resumed = read_resume(await harness.callback(code=code, state=nested_state(started)))
    assert resumed.error == "invalid_secondary_token"
    assert harness.tenant.calls["POST identities"] == 0


async def test_wrong_nonce(harness: Harness) -> None:
    assert await callback_error(harness, nonce="replayed-nonce") == "invalid_secondary_token"


async def test_stale_auth_time(harness: Harness) -> None:
    stale = int(harness.clock()) - 3600
    assert await callback_error(harness, auth_time=stale) == "invalid_secondary_token"


async def test_missing_auth_time(harness: Harness) -> None:
    assert await callback_error(harness, auth_time=None) == "invalid_secondary_token"


async def test_secondary_token_for_another_audience(harness: Harness) -> None:
    assert await callback_error(harness, aud="app-client", azp=None) == "invalid_secondary_token"


async def test_secondary_token_for_several_audiences_needs_azp(harness: Harness) -> None:
    """OpenID Connect Core 3.1.3.7: several audiences, ours among them, and no `azp` to say
    which client the token was issued to."""
    client = harness.settings.client_id
    assert (
        await callback_error(harness, aud=[client, "other-client"], azp=None)
        == "invalid_secondary_token"
    )


async def test_secondary_token_with_foreign_azp(harness: Harness) -> None:
    assert await callback_error(harness, azp="other") == "invalid_secondary_token"


async def test_secondary_token_with_other_issuer(harness: Harness) -> None:
    bad_iss = "https://evil.example.com/"
    assert await callback_error(harness, iss=bad_iss) == "invalid_secondary_token"


async def test_same_account(harness: Harness) -> None:
    assert await callback_error(harness, PRIMARY) == "same_account"


async def test_unverified_secondary_email(harness: Harness) -> None:
    harness.tenant.add_user("github|2002", email="bob@example.com", verified=False)
    assert await callback_error(harness, "github|2002") == "secondary_email_not_verified"
    assert "github|2002" in harness.tenant.users


@pytest.mark.parametrize("env_overrides", [{"LINKER_REQUIRE_SAME_EMAIL": "true"}])
async def test_email_mismatch_when_required(harness: Harness) -> None:
    harness.tenant.add_user("github|2002", email="bob@example.com")
    assert await callback_error(harness, "github|2002") == "email_mismatch"
    harness.tenant.users["github|1001"]["email"] = "ALICE@example.com"
    assert (await harness.link()).status == "linked"  # same email, any case


async def test_email_may_differ_by_default(harness: Harness) -> None:
    harness.tenant.add_user("github|2002", email="bob@example.com")
    assert (await harness.link("github|2002")).status == "linked"


async def test_secondary_with_linked_identities(harness: Harness) -> None:
    user = harness.tenant.add_user("github|3003", email="carol@example.com")
    user["identities"].append(
        {"provider": "windowslive", "user_id": "c", "connection": "windowslive"}
    )
    assert await callback_error(harness, "github|3003") == "secondary_has_linked_identities"
    assert harness.tenant.calls["POST identities"] == 0


async def test_error_page_escapes_everything(harness: Harness) -> None:
    response = await harness.callback(state="<script>alert(1)</script>", code="<img src=x>")
    assert response.status_code == 400
    assert "<script>alert" not in response.text and "<img" not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_secondary_sub_without_a_provider_is_invalid(harness: Harness) -> None:
    harness.tenant.add_user("nopipe", email="alice@example.com")
    assert await callback_error(harness, "nopipe") == "invalid_secondary_token"
    assert harness.tenant.calls["POST identities"] == 0


async def test_secondary_token_not_valid_yet(harness: Harness) -> None:
    later = int(harness.clock()) + 600
    assert await callback_error(harness, nbf=later) == "invalid_secondary_token"


async def test_secondary_token_with_infinite_expiry(harness: Harness) -> None:
    assert await callback_error(harness, exp=float("inf")) == "invalid_secondary_token"


@pytest.mark.parametrize("env_overrides", [{"LINKER_REQUIRE_SAME_EMAIL": "true"}])
@pytest.mark.parametrize(
    ("primary", "secondary"),
    [
        ("kim@example.com", "\u212aim@example.com"),
        ("straße@example.com", "strasse@example.com"),
        # `É` as `E` and a combining accent is the precomposed `É`, not ASCII: not `é`.
        ("E\u0301milie@example.com", "\u00e9milie@example.com"),
    ],
)
async def test_same_email_folds_ascii_case_only(
    harness: Harness, primary: str, secondary: str
) -> None:
    """A KELVIN SIGN is not a `K`, and `ß` is not `ss`: full case folding would let another
    mailbox pass for the primary's."""
    harness.tenant.add_user("github|2002", email=secondary)
    linked = await harness.link_with_email("github|2002", primary)
    assert (linked.status, linked.error) == ("denied", "email_mismatch")


@pytest.mark.parametrize("env_overrides", [{"LINKER_REQUIRE_SAME_EMAIL": "true"}])
async def test_same_email_after_nfc(harness: Harness) -> None:
    harness.tenant.add_user("github|2002", email="Ame\u0301lie@Example.com")  # decomposed
    linked = await harness.link_with_email("github|2002", "am\u00e9lie@example.com")
    assert linked.status == "linked"


async def test_tenant_error_description_is_cut_and_cleaned(harness: Harness) -> None:
    started = await harness.start()
    noisy = "line one\r\nline\x00two\x1b[31m " + "y" * 400
    resumed = read_resume(
        await harness.callback(
            error="server_error", error_description=noisy, state=nested_state(started)
        )
    )
    description = resumed.result["error_description"]
    assert "\n" not in description and "\x00" not in description and "\x1b" not in description
    assert description.count("y") == 200 - len("line one  line two [31m ")


async def test_tenant_error_description_keeps_to_rfc_6749_characters(harness: Harness) -> None:
    """RFC 6749 4.1.2.1: an `error_description` holds %x20-21 / %x23-5B / %x5D-7E only; the
    result's description reaches the application as one."""
    started = await harness.start()
    noisy = 'said "no" <b>\\ caf\u00e9 \u2028 100%'
    resumed = read_resume(
        await harness.callback(
            error='bad"error\\', error_description=noisy, state=nested_state(started)
        )
    )
    description = resumed.result["error_description"]
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in description), description
    assert "said  no  <b>  caf  " in description and "100%" in description
