"""Refusals in a person's words: by code and by what the user was doing."""

from __future__ import annotations

from linker.demo.refusals import explain, explanation_table, split_description


def test_the_shims_denial_splits_into_code_and_text() -> None:
    assert split_description("sub_mismatch: The hint is another user's.") == (
        "sub_mismatch",
        "The hint is another user's.",
    )
    assert split_description("The user cancelled the login") == (
        "",
        "The user cancelled the login",
    )


def test_cancelling_an_unlink_is_not_about_the_other_account() -> None:
    unlink = explain(
        "unlink",
        "access_denied",
        "cancelled: The sign-in to the other account was cancelled.",
        "github",
    )
    assert unlink.title == "Unlink cancelled"
    assert "GitHub is still linked" in unlink.what
    assert "other account" not in unlink.what + unlink.next
    link = explain("link", "access_denied", "cancelled: ...", "github")
    assert link.title == "Link cancelled"
    assert "Link GitHub again" in link.next


def test_an_unknown_code_keeps_its_text_and_still_says_what_next() -> None:
    found = explain("link", "access_denied", "brand_new: Something new.", "windowslive")
    assert (found.title, found.what, found.code) == ("Link refused", "Something new.", "brand_new")
    assert found.next
    other = explain("login", "login_required", "Login required", None)
    assert (other.title, other.what, other.code) == (
        "Sign-in refused",
        "Login required",
        "login_required",
    )


def test_the_table_for_the_spa_holds_every_text() -> None:
    table = explanation_table()
    assert table["cancelled"]["unlink"]["title"] == "Unlink cancelled"
    assert "{account}" in table["secondary_email_not_verified"]["*"]["what"]


def test_a_closed_popup_reads_as_cancelled() -> None:
    # auth0-spa-js's own error for a closed popup: error "cancelled", no code in the text.
    found = explain("link", "cancelled", "Popup closed", "github")
    assert (found.title, found.code) == ("Link cancelled", "cancelled")
    assert "Popup closed" not in found.what


def test_an_account_linked_to_another_user_is_not_the_wrong_kind() -> None:
    found = explain(
        "link",
        "access_denied",
        "linked_to_another_user: The account you signed in to is already linked.",
        "github",
    )
    assert found.title == "Link refused: that account is already linked to another user"
    assert "unlink GitHub there first" in found.next
