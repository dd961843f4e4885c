"""linker.core.decisions: each step's checks as pure functions, refusing with the contract's
code; the routes that call them are tested through HTTP in tests/service."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linker.core.action_tokens import StartRequest
from linker.core.decisions import (
    TENANT_TEXT_LIMIT,
    Finished,
    Plan,
    authorize_url,
    browser_mismatch,
    check_client_and_request,
    check_ip,
    check_policies,
    check_reauthentication,
    check_secondary_user,
    check_transaction,
    nested_login_error,
    plan,
    require_hint,
    same_email,
    secondary_identity,
    tenant_text,
)
from linker.core.errors import Code, LinkError
from linker.core.identities import Identity
from linker.core.transaction import Transaction

GOOGLE = Identity("google-oauth2", "111", "google-oauth2")
GITHUB = Identity("github", "42", "github")
GITHUB_2 = Identity("github", "43", "github")


@dataclass(frozen=True)
class Policy:
    client_id: str = "linker"
    issuer: str = "https://tenant.example.com/"
    callback_url: str = "https://linker.example.com/link/callback"
    allowed_client_ids: frozenset[str] = frozenset({"app"})
    hint_max_age: int = 600
    require_verified_email: bool = True
    enforce_mfa: bool = True
    pin_ip: bool = False
    require_verified_secondary_email: bool = True
    require_same_email: bool = False


def request(**overrides: Any) -> StartRequest:
    values: dict[str, Any] = {
        "sub": GOOGLE.full_id,
        "issued_at": 0,
        "ip": "203.0.113.7",
        "action": "link",
        "client_id": "app",
        "requested_connection": "github",
        "requested_connection_scope": None,
        "requested_identity": None,
        "id_token_hint": "hint",
        "email": "alice@example.com",
        "email_verified": True,
        "identities": (GOOGLE,),
        "authentication_methods": frozenset({"pwd"}),
        "enrolled_factors": (),
        "jti": "j",
        "expires_at": 300.0,
    }
    values.update(overrides)
    return StartRequest(**values)


def transaction(**overrides: Any) -> Transaction:
    values: dict[str, Any] = {
        "id": "txn",
        "action": "link",
        "primary_user_id": GOOGLE.full_id,
        "primary_email": "alice@example.com",
        "client_id": "app",
        "connection": "github",
        "connection_scope": None,
        "outer_state": "outer",
        "nonce": "nonce",
        "code_verifier": "verifier",
        "ip": "203.0.113.7",
        "created_at": 100.0,
        "expires_at": 700.0,
    }
    values.update(overrides)
    return Transaction(**values)


def refused(code: Code) -> Any:
    return pytest.raises(LinkError, match=f"^{code.value}: ")


def test_a_client_not_on_the_list_is_refused() -> None:
    with refused(Code.CLIENT_NOT_ALLOWED):
        check_client_and_request(request(client_id="other"), Policy())


@pytest.mark.parametrize("overrides", [{"action": "merge"}, {"requested_connection": None}])
def test_a_request_of_the_wrong_shape_is_refused(overrides: dict[str, Any]) -> None:
    with refused(Code.INVALID_REQUEST):
        check_client_and_request(request(**overrides), Policy())


def test_a_missing_hint_is_refused() -> None:
    with refused(Code.MISSING_ID_TOKEN_HINT):
        require_hint(request(id_token_hint=None))
    assert require_hint(request()) == "hint"


def test_the_primary_sign_in_policies() -> None:
    with refused(Code.EMAIL_NOT_VERIFIED):
        check_policies(request(email_verified=False), Policy())
    with refused(Code.MFA_REQUIRED):
        check_policies(request(enrolled_factors=("otp",)), Policy())
    check_policies(request(enrolled_factors=("otp",), authentication_methods={"mfa"}), Policy())
    check_policies(request(email_verified=False), Policy(require_verified_email=False))


def test_a_new_connection_plans_a_nested_login_there() -> None:
    assert plan(request()) == Plan(connection="github")


def test_a_connection_already_linked_answers_at_once_unless_scopes_are_asked() -> None:
    linked = request(identities=(GOOGLE, GITHUB))
    assert plan(linked) == Finished("already_linked", GITHUB)
    regrant = replace(linked, requested_connection_scope="repo")
    assert plan(regrant) == Plan(connection="github", already_linked=GITHUB)


def test_unlink_reauthenticates_at_the_primary_connection() -> None:
    req = request(action="unlink", identities=(GOOGLE, GITHUB))
    assert plan(req) == Plan(connection="google-oauth2", target=GITHUB)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"identities": (GOOGLE,)}, Code.IDENTITY_NOT_LINKED),
        ({"identities": (GOOGLE, GITHUB, GITHUB_2)}, Code.AMBIGUOUS_IDENTITY),
        (
            {"requested_identity": "github|99", "identities": (GOOGLE, GITHUB)},
            Code.IDENTITY_NOT_LINKED,
        ),
        ({"requested_connection": "google-oauth2", "identities": (GOOGLE,)}, Code.PRIMARY_IDENTITY),
        ({"sub": "auth0|other", "identities": (GOOGLE, GITHUB)}, Code.PRIMARY_IDENTITY),
    ],
)
def test_an_unlink_that_cannot_be_planned_is_refused(overrides: dict[str, Any], code: Code) -> None:
    with refused(code):
        plan(request(action="unlink", **overrides))


def test_one_of_two_identities_of_a_connection_is_named() -> None:
    req = request(
        action="unlink", identities=(GOOGLE, GITHUB, GITHUB_2), requested_identity="github|43"
    )
    assert plan(req) == Plan(connection="google-oauth2", target=GITHUB_2)


def test_the_nested_authorize_url_forces_a_fresh_login_at_the_connection() -> None:
    url = authorize_url(
        "https://tenant.example.com/authorize",
        transaction(connection_scope="repo"),
        settings=Policy(),
        challenge="challenge",
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["connection"] == "github" and query["connection_scope"] == "repo"
    assert query["prompt"] == "login" and query["max_age"] == "0"
    assert query["state"] == "txn" and query["nonce"] == "nonce"
    assert query["code_challenge"] == "challenge" and query["code_challenge_method"] == "S256"
    assert query["client_id"] == "linker" and query["redirect_uri"] == Policy.callback_url


def test_a_transaction_is_checked_for_existence_age_and_network() -> None:
    with refused(Code.TRANSACTION_NOT_FOUND):
        check_transaction(None, ip=None, settings=Policy(), now=200)
    with refused(Code.TRANSACTION_EXPIRED):
        check_transaction(transaction(), ip=None, settings=Policy(), now=701)
    with refused(Code.IP_MISMATCH):
        check_transaction(transaction(), ip="198.51.100.1", settings=Policy(pin_ip=True), now=200)
    assert check_transaction(transaction(), ip="x", settings=Policy(), now=200).id == "txn"


def test_a_pinned_ip_needs_one_recorded() -> None:
    with refused(Code.IP_MISMATCH):
        check_ip(None, None, Policy(pin_ip=True))
    check_ip("a", "a", Policy(pin_ip=True))


def test_browser_mismatch_names_the_other_browser() -> None:
    assert browser_mismatch().code is Code.BROWSER_MISMATCH


def test_the_nested_login_errors() -> None:
    assert nested_login_error("access_denied", "user said no").code is Code.CANCELLED
    failed = nested_login_error("server_error", "boom\x00\n<b>")
    assert failed.code is Code.SECONDARY_LOGIN_FAILED and failed.status == "failed"
    assert "\x00" not in failed.description and "\n" not in failed.description


@given(st.text(max_size=1000))
def test_tenant_text_is_bounded_and_free_of_control_characters(text: str) -> None:
    cleaned = tenant_text(text)
    assert len(cleaned) <= TENANT_TEXT_LIMIT
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in cleaned)


def claims(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "sub": GITHUB.full_id,
        "email": "alice@example.com",
        "email_verified": True,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def test_the_secondary_identity_is_read_from_the_token() -> None:
    assert secondary_identity(claims(), transaction(), Policy()) == GITHUB


@pytest.mark.parametrize(
    ("overrides", "policy", "code"),
    [
        ({"sub": "no-provider"}, Policy(), Code.INVALID_SECONDARY_TOKEN),
        ({"sub": GOOGLE.full_id}, Policy(), Code.SAME_ACCOUNT),
        ({"email_verified": None}, Policy(), Code.SECONDARY_EMAIL_NOT_VERIFIED),
        ({"email_verified": "true"}, Policy(), Code.SECONDARY_EMAIL_NOT_VERIFIED),
        ({"email": "mallory@example.com"}, Policy(require_same_email=True), Code.EMAIL_MISMATCH),
        ({"email": None}, Policy(require_same_email=True), Code.EMAIL_MISMATCH),
    ],
)
def test_a_secondary_that_fails_a_check_is_refused(
    overrides: dict[str, Any], policy: Policy, code: Code
) -> None:
    with refused(code):
        secondary_identity(claims(**overrides), transaction(), policy)


def test_same_email_folds_ascii_case_only() -> None:
    assert same_email("Alice@Example.COM", "alice@example.com")
    assert not same_email("\u212aim@example.com", "kim@example.com")  # KELVIN SIGN
    assert not same_email("stra\u00dfe@example.com", "strasse@example.com")
    assert same_email("e\u0301@example.com", "\u00e9@example.com")  # NFC
    assert not same_email("\u212aim@example.com", "Kim@example.com")


@pytest.mark.parametrize("spelled", ["\u00c9milie@example.com", "E\u0301milie@example.com"])
def test_two_spellings_of_one_address_fold_alike(spelled: str) -> None:
    """`É` precomposed or as `E` and a combining accent: the same address, and not ASCII,
    so its case is kept (neither equals `émilie`)."""
    assert same_email(spelled, "\u00c9milie@example.com")
    assert same_email(spelled, "E\u0301MILIE@example.com")
    assert not same_email(spelled, "\u00e9milie@example.com")


@given(st.emails())
def test_an_address_is_the_same_as_its_ascii_upper_case(address: str) -> None:
    upper = "".join(c.upper() if c.isascii() else c for c in address)
    assert same_email(address, upper)


def test_reauthentication_must_be_the_primary() -> None:
    txn = transaction(action="unlink", connection="google-oauth2", target=GITHUB)
    assert check_reauthentication({"sub": GOOGLE.full_id}, txn) == GITHUB
    with refused(Code.REAUTHENTICATION_FAILED):
        check_reauthentication({"sub": GITHUB.full_id}, txn)


def user(*identities: Identity, user_id: str = GITHUB.full_id) -> dict[str, Any]:
    return {"user_id": user_id, "identities": [i.to_claim() for i in identities]}


def test_the_secondary_user_is_checked_before_the_link() -> None:
    assert check_secondary_user(user(GITHUB), GITHUB) == GITHUB
    with refused(Code.IDENTITY_CONFLICT):
        check_secondary_user(user(GITHUB, user_id=GOOGLE.full_id), GITHUB)
    with refused(Code.CONNECTION_MISMATCH):
        check_secondary_user(user(Identity("github", "42", "github-work")), GITHUB)
    with refused(Code.SECONDARY_HAS_LINKED_IDENTITIES):
        check_secondary_user(user(GITHUB, GOOGLE), GITHUB)
