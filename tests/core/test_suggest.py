"""The pure decisions of suggested linking (`linker.core.suggest`)."""

from __future__ import annotations

from typing import Any

import pytest

from linker.core.action_tokens import PrimaryProfile, StartRequest
from linker.core.errors import Code, LinkError
from linker.core.identities import Identity
from linker.core.suggest import (
    MAX_CANDIDATES,
    Offer,
    candidates,
    check_candidate,
    check_candidate_user,
    check_offer,
    check_request,
    chosen,
    current_identity,
    decline_patch,
    lookup_emails,
    refused,
)
from linker.core.transaction import Transaction

ME = Identity("github", "1005", "github")
GRACE = Identity("auth0", "grace", "Username-Password-Authentication")


def request(
    *, email: str | None = "Grace@Example.com", verified: bool = True, **extra: Any
) -> StartRequest:
    fields: dict[str, Any] = {
        "sub": ME.full_id,
        "issued_at": 0,
        "ip": None,
        "action": "suggest",
        "client_id": "app",
        "requested_connection": None,
        "requested_connection_scope": None,
        "requested_identity": None,
        "id_token_hint": None,
        "email": email,
        "email_verified": verified,
        "identities": (ME,),
        "authentication_methods": frozenset(),
        "enrolled_factors": (),
        "jti": "j",
        "expires_at": 300.0,
        "suggest": "suggest",
    }
    fields.update(extra)
    return StartRequest(**fields)


def user(identity: Identity, email: str, *, verified: bool = True, minute: int) -> dict[str, Any]:
    return {
        "user_id": identity.full_id,
        "email": email,
        "email_verified": verified,
        "created_at": f"2024-01-01T00:{minute:02d}:00.000Z",
        "identities": [identity.to_claim()],
    }


def me(minute: int = 30) -> dict[str, Any]:
    return user(ME, "Grace@Example.com", minute=minute)


def test_lookups_depend_only_on_the_users_own_address() -> None:
    assert lookup_emails("Grace@Example.com") == ["Grace@Example.com", "grace@example.com"]
    assert lookup_emails("grace@example.com") == ["grace@example.com"]
    # Only ASCII letters are lowered: a KELVIN SIGN stays what it is.
    assert lookup_emails("\u212aim@example.com") == ["\u212aim@example.com"]
    assert lookup_emails(None) == [] and lookup_emails("") == []


def test_an_older_verified_account_with_the_same_address_is_a_candidate() -> None:
    users = [me(), user(GRACE, "grace@example.com", minute=1)]
    assert candidates(request(), users) == [GRACE]


@pytest.mark.parametrize(
    "other",
    [
        user(GRACE, "grace@example.com", verified=False, minute=1),  # the squatter
        user(GRACE, "grace@example.com", minute=31),  # newer than me: I would be the primary
        user(GRACE, "other@example.com", minute=1),
        user(GRACE, "grace@example.com\u0301", minute=1),  # not equal after NFC
        {**user(GRACE, "grace@example.com", minute=1), "created_at": "yesterday"},
        {**user(GRACE, "grace@example.com", minute=1), "email_verified": "true"},
        {**user(GRACE, "grace@example.com", minute=1), "identities": []},
        {**user(GRACE, "grace@example.com", minute=1), "user_id": "no-provider"},
    ],
)
def test_anything_else_is_never_offered(other: dict[str, Any]) -> None:
    assert candidates(request(), [me(), other]) == []


def test_the_user_itself_and_its_own_identities_are_not_candidates() -> None:
    assert candidates(request(), [user(ME, "grace@example.com", minute=1), me()]) == []


def test_no_candidates_without_a_verified_address_or_with_linked_identities() -> None:
    users = [me(), user(GRACE, "grace@example.com", minute=1)]
    assert candidates(request(verified=False), users) == []
    assert candidates(request(email=None), users) == []
    assert candidates(request(identities=(ME, GRACE)), users) == []
    # Without the current user in the answers its sign-up time is unknown: nothing offered.
    assert candidates(request(), users[1:]) == []


def test_candidates_are_oldest_first_and_bounded() -> None:
    many = [
        user(Identity("auth0", f"u{n}", "db"), "grace@example.com", minute=20 - n) for n in range(8)
    ]
    found = candidates(request(), [me(), *many])
    assert len(found) == MAX_CANDIDATES
    assert [c.user_id for c in found] == ["u7", "u6", "u5", "u4", "u3"]


def test_only_a_suggestion_start_token_is_taken() -> None:
    assert check_request(request()) == "suggest"
    assert check_request(request(suggest="require")) == "require"
    for bad in (request(action="link"), request(suggest=None), request(suggest="always")):
        with pytest.raises(LinkError) as caught:
            check_request(bad)
        assert caught.value.code is Code.INVALID_REQUEST


def offer(**extra: Any) -> Offer:
    fields: dict[str, Any] = {
        "id": "o",
        "primary": ME.full_id,
        "email": "Grace@Example.com",
        "client_id": "app",
        "outer_state": "s",
        "mode": "suggest",
        "ip": None,
        "created_at": 0.0,
        "expires_at": 600.0,
        "candidates": (GRACE,),
    }
    fields.update(extra)
    return Offer(**fields)


def test_an_offer_round_trips_and_is_checked() -> None:
    kept = offer()
    assert Offer.loads("o", kept.dumps()) == kept
    assert "o" not in kept.dumps().split(",")[0]  # the id is the store's key, not its value
    assert check_offer(kept, now=600.0) is kept
    with pytest.raises(LinkError) as gone:
        check_offer(None, now=0.0)
    assert gone.value.code is Code.TRANSACTION_NOT_FOUND
    with pytest.raises(LinkError) as late:
        check_offer(kept, now=600.1)
    assert late.value.code is Code.TRANSACTION_EXPIRED


@pytest.mark.parametrize("index", ["1", "-1", "", "x", "0" * 3, "\u0660", "01a"])
def test_a_choice_must_name_a_candidate_on_the_page(index: str) -> None:
    assert chosen(offer(), "0") == GRACE
    with pytest.raises(LinkError) as caught:
        chosen(offer(), index)
    assert caught.value.code is Code.INVALID_REQUEST


def test_refusing_is_remembered_only_in_suggest_mode() -> None:
    assert refused("suggest") is None
    denial = refused("require")
    assert denial is not None and denial.code is Code.LINK_REQUIRED and denial.status == "denied"
    assert decline_patch(1700000000.9) == {
        "app_metadata": {"linker_suggest": {"declined_at": 1700000000}}
    }


def txn(email: str | None = "Grace@Example.com") -> Transaction:
    return Transaction(
        id="t",
        action="suggest",
        primary_user_id=ME.full_id,
        primary_email=email,
        client_id="app",
        connection=GRACE.connection,
        connection_scope=None,
        outer_state="s",
        nonce="n",
        code_verifier="v",
        ip=None,
        created_at=0.0,
        expires_at=600.0,
        target=GRACE,
    )


def test_the_nested_login_must_be_the_candidate_shown() -> None:
    good = {"sub": GRACE.full_id, "email": "grace@example.com", "email_verified": True}
    assert check_candidate(good, txn()) == GRACE
    cases = [
        ({**good, "sub": "auth0|grace-early"}, Code.CANDIDATE_MISMATCH),
        ({**good, "sub": ME.full_id}, Code.CANDIDATE_MISMATCH),  # the current account itself
        ({**good, "email_verified": False}, Code.SECONDARY_EMAIL_NOT_VERIFIED),
        ({**good, "email": "other@example.com"}, Code.EMAIL_MISMATCH),
        ({key: v for key, v in good.items() if key != "email"}, Code.EMAIL_MISMATCH),
    ]
    for claims, code in cases:
        with pytest.raises(LinkError) as caught:
            check_candidate(claims, txn())
        assert caught.value.code is code
    with pytest.raises(LinkError) as no_email:
        check_candidate(good, txn(email=None))
    assert no_email.value.code is Code.EMAIL_MISMATCH


def test_the_commit_checks_both_accounts_again() -> None:
    profile = PrimaryProfile(identities=(ME,), user_metadata={}, app_metadata={})
    assert current_identity(profile, ME.full_id) == ME
    for broken in (
        PrimaryProfile(identities=(ME, GRACE), user_metadata={}, app_metadata={}),
        PrimaryProfile(identities=(GRACE,), user_metadata={}, app_metadata={}),
    ):
        with pytest.raises(LinkError) as caught:
            current_identity(broken, ME.full_id)
        assert caught.value.code is Code.SECONDARY_HAS_LINKED_IDENTITIES
    grace = {**user(GRACE, "grace@example.com", minute=1), "user_metadata": {"a": 1}}
    assert check_candidate_user(grace, GRACE).user_metadata == {"a": 1}
    with pytest.raises(LinkError) as moved:
        check_candidate_user({**grace, "user_id": "auth0|dave"}, GRACE)
    assert moved.value.code is Code.IDENTITY_CONFLICT
    with pytest.raises(LinkError) as unverified:
        check_candidate_user({**grace, "email_verified": False}, GRACE)
    assert unverified.value.code is Code.EMAIL_MISMATCH
