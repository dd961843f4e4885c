"""The sample app's session store: signed ids, expiry, bounds, one-use pending states."""

from __future__ import annotations

from linker.demo.sessions import MAX_PENDING, PENDING_TTL, Pending, SessionStore
from linker.testing import FakeClock
from tests.support.tamper import tamper


def pending(now: float) -> Pending:
    return Pending(kind="login", nonce="n", code_verifier="v", created_at=now)


def test_a_cookie_finds_its_session_and_a_forged_one_finds_nothing() -> None:
    store = SessionStore("secret", clock=FakeClock())
    session = store.create()
    cookie = store.cookie_value(session)

    assert store.load(cookie) is session
    assert store.load(session.id) is None  # unsigned
    assert store.load(tamper(cookie)) is None
    assert SessionStore("other secret", clock=FakeClock()).load(cookie) is None


def test_sessions_expire_and_the_store_is_bounded() -> None:
    clock = FakeClock()
    store = SessionStore("secret", clock=clock, max_age=100, max_sessions=2)
    first, second = store.create(), store.create()
    cookies = [store.cookie_value(first), store.cookie_value(second)]

    third = store.create()  # the oldest goes
    assert store.load(cookies[0]) is None
    assert store.load(cookies[1]) is second

    clock.now += 101
    assert store.load(store.cookie_value(third)) is None


def test_pending_states_are_one_use_expire_and_are_bounded() -> None:
    clock = FakeClock()
    session = SessionStore("secret", clock=clock).create()
    for index in range(MAX_PENDING + 1):
        session.remember(f"s{index}", pending(clock.now))

    assert session.take("s0", clock.now) is None  # dropped: beyond MAX_PENDING
    assert session.take("s1", clock.now) is not None
    assert session.take("s1", clock.now) is None  # one use
    assert session.take("s2", clock.now + PENDING_TTL + 1) is None  # expired


def test_the_csrf_token_must_match_exactly() -> None:
    session = SessionStore("secret", clock=FakeClock()).create()
    assert session.csrf_ok(session.csrf_token)
    assert not session.csrf_ok("")
    assert not session.csrf_ok(session.csrf_token + "x")
