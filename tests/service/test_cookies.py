"""The transaction cookie's `Set-Cookie` line, written by hand: nothing may be injected into it."""

from __future__ import annotations

import pytest

from linker.web.cookies import cookie_name, set_cookie


def test_the_line_is_exactly_the_attributes() -> None:
    assert set_cookie("linker_txn_ab", "t.1.s", max_age=600, secure=False) == (
        "linker_txn_ab=t.1.s; Max-Age=600; Path=/link; HttpOnly; SameSite=Lax"
    )
    # Over https, a __Host- cookie: Secure, Path=/ and no Domain, as browsers require.
    assert set_cookie("__Host-linker_txn_ab", "t.1.s", max_age=600, secure=True) == (
        "__Host-linker_txn_ab=t.1.s; Max-Age=600; Path=/; HttpOnly; SameSite=Lax; Secure"
    )


def test_the_name_is_host_prefixed_over_https_only() -> None:
    assert cookie_name("txn", secure=True).startswith("__Host-linker_txn_")
    assert cookie_name("txn", secure=False).startswith("linker_txn_")
    with pytest.raises(ValueError, match="Secure"):
        set_cookie(cookie_name("txn", secure=True), "v", max_age=1, secure=False)


@pytest.mark.parametrize(
    ("name", "value"),
    [("", "v"), ("a b", "v"), ("n", "v; Domain=evil.example"), ("n", "v\r\nX: y"), ("n", '"v"')],
)
def test_anything_but_a_plain_token_is_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError, match="plain tokens"):
        set_cookie(name, value, max_age=1, secure=True)
