"""The account is shown before it is joined. A nested login can complete without the user (a
provider session in the browser, perhaps an attacker's), so after it linker shows which account
is about to be linked, with Link and Cancel, and prepares nothing until Link. The choice is
bound like every other step: a POST with the transaction's cookie, the page's one-time token,
and (when the browser sends one) linker's own Origin."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.service.test_unlink import unlink
from tests.support.harness import (
    PRIMARY,
    SECONDARY,
    Harness,
    assert_dead_end,
    confirm_fields,
    is_confirm_page,
    nested_state,
    read_resume,
)

PICTURE = "https://avatars.example.com/u/1001?v=4"


async def shown(harness: Harness, sub: str = SECONDARY, **claims: Any) -> httpx.Response:
    """Start, sign in as `sub` at the nested login, and stop at the page that shows it."""
    started = await harness.start()
    assert started.status_code == 302, started.text
    code = harness.tenant.login(started.headers["location"], sub=sub, **claims)
    page = await harness.callback_page(code=code, state=nested_state(started))
    assert is_confirm_page(page), page.text
    return page


async def test_the_page_names_the_account(harness: Harness) -> None:
    page = await shown(harness, name="Alice Codes", picture=PICTURE)
    assert "<strong>github</strong>" in page.text
    assert "Alice Codes" in page.text
    assert "a***e@example.com" in page.text and "alice@example.com" not in page.text
    assert f'<img src="{PICTURE.replace("&", "&amp;")}"' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src" not in csp and "img-src https:" in csp and "form-action 'self'" in csp
    assert page.headers["x-frame-options"] == "DENY"  # no clicking Link through a frame
    assert page.headers["cache-control"] == "no-store"
    assert "set-cookie" not in page.headers  # the transaction's cookie stays for the POST
    assert harness.tenant.calls["GET user"] == 0  # nothing read or written yet


async def test_what_the_token_says_is_escaped_and_only_https_pictures_shown(
    harness: Harness,
) -> None:
    page = await shown(harness, name="<script>alert(1)</script>", picture="javascript:alert(1)")
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert "<img" not in page.text


@pytest.mark.parametrize("picture", ["https://[oops", "https://host:port/p.png"])
async def test_a_malformed_picture_url_is_left_out(harness: Harness, picture: str) -> None:
    """The provider's profile says what `picture` is: one no URL parser reads is not shown,
    and the page is (the attempt was already taken: an error here would strand the login)."""
    page = await shown(harness, picture=picture)
    assert page.status_code == 200 and "<img" not in page.text
    assert 'name="choice"' in page.text


async def test_link_prepares_and_the_commit_links(harness: Harness) -> None:
    page = await shown(harness)
    response = await harness.choose(page, "link")
    resumed = read_resume(response)
    assert resumed.status == "pending"
    assert "Max-Age=0" in response.headers["set-cookie"]  # the transaction is spent
    answer = await harness.commit(resumed.commit)
    assert answer.json()["status"] == "linked"
    assert harness.tenant.calls["POST identities"] == 1


async def test_cancel_links_nothing(harness: Harness) -> None:
    page = await shown(harness)
    response = await harness.choose(page, "cancel")
    resumed = read_resume(response)
    assert (resumed.status, resumed.error) == ("denied", "cancelled")
    assert "commit" not in resumed.claims
    assert "Max-Age=0" in response.headers["set-cookie"]  # the transaction is spent
    assert harness.tenant.calls["POST identities"] == 0
    assert harness.tenant.calls["GET user"] == 0
    assert [i["user_id"] for i in harness.tenant.users[PRIMARY]["identities"]] == ["alice"]
    # Pressing Link afterwards (the form resent) finds nothing.
    again = await harness.client.post("/link/confirm", data=confirm_fields(page, "link"))
    assert again.status_code == 400


async def test_the_choice_is_taken_once(harness: Harness) -> None:
    page = await shown(harness)
    kept = dict(harness.client.cookies.items())
    assert read_resume(await harness.choose(page, "link")).status == "pending"
    # Replayed with the cookie put back (the resume page cleared it): nothing is left to take.
    for name, value in kept.items():
        harness.client.cookies.set(name, value, path="/")
    assert_dead_end(await harness.choose(page, "link"), "transaction_not_found")
    assert_dead_end(await harness.choose(page, "cancel"), "transaction_not_found")


async def test_another_browser_cannot_choose_and_the_attempt_stays(harness: Harness) -> None:
    page = await shown(harness)
    fields = confirm_fields(page, "link")
    transport = httpx.ASGITransport(app=harness.app, client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(
        transport=transport, base_url=harness.settings.public_url
    ) as other:
        assert_dead_end(await other.post("/link/confirm", data=fields), "browser_mismatch")
    # The user's own browser still can.
    assert read_resume(await harness.choose(page, "link")).status == "pending"


async def test_a_cross_site_post_is_refused(harness: Harness) -> None:
    page = await shown(harness)
    fields = confirm_fields(page, "link")
    forged = await harness.client.post(
        "/link/confirm", data=fields, headers={"origin": "https://evil.example"}
    )
    assert_dead_end(forged, "browser_mismatch")
    same = await harness.client.post(
        "/link/confirm", data=fields, headers={"origin": "https://linker.test"}
    )
    assert read_resume(same).status == "pending"


async def test_a_wrong_token_is_refused(harness: Harness) -> None:
    page = await shown(harness)
    response = await harness.choose(page, "link", token="guessed")
    assert_dead_end(response, "transaction_not_found")
    assert harness.tenant.calls["POST identities"] == 0


@pytest.mark.parametrize("choice", ["", "both", "LINK"])
async def test_anything_but_link_or_cancel_is_refused(harness: Harness, choice: str) -> None:
    page = await shown(harness)
    fields = {**confirm_fields(page, "link"), "choice": choice}
    assert_dead_end(await harness.client.post("/link/confirm", data=fields), "invalid_request")
    # Refused before anything was taken: the real choice still works.
    assert read_resume(await harness.choose(page, "cancel")).error == "cancelled"


async def test_a_choice_after_the_transaction_expired_is_refused(harness: Harness) -> None:
    page = await shown(harness)
    harness.clock.advance(harness.settings.txn_ttl + 1)
    response = await harness.choose(page, "link")
    assert response.status_code == 400  # expired: the store let it go, or the check refuses
    assert harness.tenant.calls["POST identities"] == 0


async def test_a_large_form_is_refused_unread(harness: Harness) -> None:
    response = await harness.client.post("/link/confirm", data={"state": "x" * 10_000})
    assert response.status_code == 413


@pytest.mark.parametrize("env_overrides", [{"LINKER_CONFIRM_LINK": "false"}])
async def test_the_operator_can_turn_the_page_off(harness: Harness) -> None:
    started = await harness.start()
    code = harness.tenant.login(started.headers["location"], sub=SECONDARY)
    back = await harness.callback_page(code=code, state=nested_state(started))
    assert read_resume(back).status == "pending"


async def test_an_unlink_shows_no_page(harness: Harness) -> None:
    """An unlink joins nothing: the primary re-authenticates, and the result comes back."""
    assert (await unlink(harness)).status == "unlinked"


async def test_an_opaque_origin_is_refused(harness: Harness) -> None:
    """`Origin: null` (a sandboxed frame, a data: page) is not linker's own page."""
    page = await shown(harness)
    assert page.headers["referrer-policy"] == "same-origin"  # so browsers send the real one
    forged = await harness.client.post(
        "/link/confirm", data=confirm_fields(page, "link"), headers={"origin": "null"}
    )
    assert_dead_end(forged, "browser_mismatch")


@pytest.mark.parametrize("origin", ["https://[", "http://[::1"])
async def test_an_origin_no_parser_reads_is_refused(harness: Harness, origin: str) -> None:
    page = await shown(harness)
    forged = await harness.client.post(
        "/link/confirm", data=confirm_fields(page, "link"), headers={"origin": origin}
    )
    assert_dead_end(forged, "browser_mismatch")
    # Without a cookie or a page, the same: a refusal, never an error.
    harness.client.cookies.clear()
    fields = {"state": "x", "token": "y", "choice": "link"}
    bare = await harness.client.post("/link/confirm", data=fields, headers={"origin": origin})
    assert bare.status_code == 400
