"""linker.core.shown_account: what the confirmation page shows of the account to be linked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linker.core.shown_account import MAX_SHOWN, mask_email, shown_account


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("alice@example.com", "a***e@example.com"),
        ("a@example.com", "a***@example.com"),
        ("o'brien+x@mail.example", "o***x@mail.example"),
        ("no-at-sign", "***"),
        ("@example.com", "***"),
        ("alice@", "***"),
    ],
)
def test_an_email_is_shown_in_part(address: str, masked: str) -> None:
    assert mask_email(address) == masked


@given(st.emails())
def test_a_masked_email_never_shows_the_whole_mailbox(address: str) -> None:
    local = address.rpartition("@")[0]
    masked = mask_email(address)
    assert len(masked) <= MAX_SHOWN
    if len(local) > 2:
        assert local not in masked


def test_the_account_is_named_from_its_claims() -> None:
    shown = shown_account(
        {
            "name": "  Alice\n Liddell ",
            "email": "alice@example.com",
            "picture": "https://avatars.example.com/a.png",
        },
        "github",
    )
    assert (shown.connection, shown.name) == ("github", "Alice Liddell")
    assert shown.email == "a***e@example.com"
    assert shown.picture == "https://avatars.example.com/a.png"


@pytest.mark.parametrize(
    "picture",
    [
        "http://avatars.example.com/a.png",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "https:///no-host",
        "https://example.com/" + "x" * 3000,
        42,
    ],
)
def test_only_an_https_picture_with_a_host_is_shown(picture: object) -> None:
    assert shown_account({"picture": picture}, "github").picture is None


def test_names_fall_back_and_everything_is_cut_short() -> None:
    shown = shown_account({"nickname": "n" * 500}, "c" * 500)
    assert shown.name == "n" * MAX_SHOWN and shown.connection == "c" * MAX_SHOWN
    assert shown_account({}, "github") == shown_account({"name": "   "}, "github")
    assert shown_account({}, "github").email is None
