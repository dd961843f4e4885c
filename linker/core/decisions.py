"""The linking protocol's decisions, as pure functions of data.

`start.py`, `callback.py` and `writes.py` do the I/O and call these in the order
docs/protocol.md gives. Each check raises `LinkError` with the contract's code, or returns what
the next step needs.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from joserfc.jwk import KeySet

from linker.core.action_tokens import StartRequest
from linker.core.authorize import build_authorize_url
from linker.core.errors import Code, LinkError
from linker.core.id_tokens import (
    TokenRejected,
    check_common_claims,
    check_login_claims,
    issued_at,
    verify_rs256,
)
from linker.core.identities import Identity, identities_of, split_user_id
from linker.core.transaction import Transaction

ACTIONS = frozenset({"link", "unlink"})
NESTED_SCOPE = "openid profile email"


class Policy(Protocol):
    """What the decisions read from the service's settings (`linker.settings.Settings` is one)."""

    @property
    def client_id(self) -> str: ...
    @property
    def issuer(self) -> str: ...
    @property
    def callback_url(self) -> str: ...
    @property
    def allowed_client_ids(self) -> frozenset[str]: ...
    @property
    def hint_max_age(self) -> int: ...
    @property
    def require_verified_email(self) -> bool: ...
    @property
    def enforce_mfa(self) -> bool: ...
    @property
    def pin_ip(self) -> bool: ...
    @property
    def require_verified_secondary_email(self) -> bool: ...
    @property
    def require_same_email(self) -> bool: ...


def check_client(client_id: str, settings: Policy) -> None:
    """Step 2: the application is one allowed to ask for linking (`*`: every application)."""
    allowed = settings.allowed_client_ids
    if "*" not in allowed and client_id not in allowed:
        raise LinkError(
            Code.CLIENT_NOT_ALLOWED, "This application is not allowed to link accounts."
        )


def check_client_and_request(req: StartRequest, settings: Policy) -> None:
    """Step 2 and the request's shape: client allowed, action and connection sensible."""
    check_client(req.client_id, settings)
    if req.action not in ACTIONS:
        raise LinkError(
            Code.INVALID_REQUEST, "Ask for either link_account or unlink_account, not both."
        )
    if not req.requested_connection:
        raise LinkError(Code.INVALID_REQUEST, "The request names no requested_connection.")


def check_hint(
    claims: Mapping[str, Any], req: StartRequest, settings: Policy, *, now: float
) -> None:
    """Step 3, after the signature: the hint is the app's ID token for this very user."""
    try:
        check_common_claims(claims, issuer=settings.issuer, audience=req.client_id, now=now)
        iat = issued_at(claims)
    except TokenRejected as exc:
        raise LinkError(
            Code.INVALID_ID_TOKEN_HINT,
            f"The id_token_hint is invalid: {exc}.",
            by_clock=exc.by_clock,
        ) from None
    if claims["sub"] != req.sub:
        raise LinkError(Code.SUB_MISMATCH, "The id_token_hint belongs to another user.")
    if now - iat > settings.hint_max_age:
        raise LinkError(
            Code.ID_TOKEN_HINT_TOO_OLD,
            "The id_token_hint is too old; sign in again and retry.",
            by_clock=True,
        )


def require_hint(req: StartRequest) -> str:
    if not req.id_token_hint:
        raise LinkError(Code.MISSING_ID_TOKEN_HINT, "The request carries no id_token_hint.")
    return req.id_token_hint


def verify_hint_signature(hint: str, keys: KeySet) -> Mapping[str, Any]:
    try:
        return verify_rs256(hint, keys)
    except TokenRejected as exc:
        raise LinkError(
            Code.INVALID_ID_TOKEN_HINT, f"The id_token_hint is invalid: {exc}."
        ) from None


def check_policies(req: StartRequest, settings: Policy) -> None:
    """Step 4: the tenant owner's policies about the primary sign-in."""
    if settings.require_verified_email and not req.email_verified:
        raise LinkError(
            Code.EMAIL_NOT_VERIFIED, "Verify your email address before linking accounts."
        )
    if settings.enforce_mfa and req.enrolled_factors and "mfa" not in req.authentication_methods:
        raise LinkError(
            Code.MFA_REQUIRED, "Sign in with multi-factor authentication before linking accounts."
        )


@dataclass(frozen=True)
class Plan:
    """What the nested login is for: the connection to sign in at, and what it concerns.

    `target` is the identity to unlink; `already_linked` is an identity linked before whose
    connection is asked for again with new scopes (the nested login grants them).
    """

    connection: str
    target: Identity | None = None
    already_linked: Identity | None = None


@dataclass(frozen=True)
class Finished:
    """No nested login needed: the answer is known at the start."""

    status: str
    identity: Identity


def plan(req: StartRequest) -> Plan | Finished:
    """Step 5: decide what the nested login must prove, or answer at once."""
    connection = req.requested_connection
    assert connection is not None  # checked by check_client_and_request
    matching = [i for i in req.identities if i.connection == connection]
    if req.action == "unlink":
        return _plan_unlink(req, matching)
    if not matching:
        return Plan(connection=connection)
    if req.requested_connection_scope:
        # Token Vault needs the new scopes granted at that connection: sign in there again.
        return Plan(connection=connection, already_linked=matching[0])
    return Finished("already_linked", matching[0])


def _plan_unlink(req: StartRequest, matching: Sequence[Identity]) -> Plan:
    if req.requested_identity:
        matching = [i for i in matching if i.full_id == req.requested_identity]
    if not matching:
        raise LinkError(
            Code.IDENTITY_NOT_LINKED, "No identity of that connection is linked to this account."
        )
    if len(matching) > 1:
        raise LinkError(
            Code.AMBIGUOUS_IDENTITY,
            "Several identities of that connection are linked; name one in requested_identity.",
        )
    target = matching[0]
    primary = req.primary_identity
    if target.full_id == req.sub or primary is None:
        raise LinkError(Code.PRIMARY_IDENTITY, "The account's main identity cannot be unlinked.")
    # Unlinking is destructive: the user proves presence again at the primary's own connection.
    return Plan(connection=primary.connection, target=target)


def authorize_url(endpoint: str, txn: Transaction, *, settings: Policy, challenge: str) -> str:
    """The nested `/authorize` for the companion client."""
    extra = {"connection": txn.connection, "prompt": "login", "max_age": "0"}
    if txn.connection_scope:
        extra["connection_scope"] = txn.connection_scope
    return build_authorize_url(
        endpoint,
        client_id=settings.client_id,
        redirect_uri=settings.callback_url,
        scope=NESTED_SCOPE,
        state=txn.id,
        nonce=txn.nonce,
        code_challenge=challenge,
        extra=extra,
    )


def browser_mismatch() -> LinkError:
    """Callback step 1, before anything is taken: this browser holds no cookie for the state."""
    return LinkError(
        Code.BROWSER_MISMATCH,
        "This sign-in was started in another browser, or already finished in this one. "
        "Start again from the application.",
    )


def check_transaction(
    txn: Transaction | None, *, ip: str | None, settings: Policy, now: float
) -> Transaction:
    """Callback step 1, after the take: the transaction existed and is still valid."""
    if txn is None:
        raise LinkError(
            Code.TRANSACTION_NOT_FOUND,
            "This sign-in was already used or is unknown. Start again from the application.",
        )
    if now > txn.expires_at:
        raise LinkError(
            Code.TRANSACTION_EXPIRED,
            "This sign-in took too long. Start again from the application.",
            by_clock=True,
        )
    check_ip(txn.ip, ip, settings)
    return txn


def check_ip(expected: str | None, actual: str | None, settings: Policy) -> None:
    if settings.pin_ip and (expected is None or actual != expected):
        raise LinkError(
            Code.IP_MISMATCH, "This request comes from another network than the sign-in."
        )


def nested_login_error(error: str, description: str | None) -> LinkError:
    """Callback step 2: the tenant sent an error instead of a code."""
    if error == "access_denied":
        return LinkError(Code.CANCELLED, "The sign-in to the other account was cancelled.")
    detail = f": {tenant_text(description)}" if description else ""
    return LinkError(
        Code.SECONDARY_LOGIN_FAILED, f"The sign-in failed ({tenant_text(error)}){detail}."
    )


TENANT_TEXT_LIMIT = 200


# What RFC 6749 (4.1.2.1) allows in `error_description`: %x20-21 / %x23-5B / %x5D-7E. The
# result's description reaches the application as one (through the Action's deny).
_DESCRIPTION_CHARS = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


def tenant_text(text: str) -> str:
    """Text that came from the tenant, fit to pass on: 200 characters at most, each one RFC 6749
    allows in an `error_description` (any other, control characters included, is a space)."""
    return "".join(c if c in _DESCRIPTION_CHARS else " " for c in text[:TENANT_TEXT_LIMIT])


def check_secondary_token(
    token: str, keys: KeySet, txn: Transaction, settings: Policy, *, now: float
) -> Mapping[str, Any]:
    """Callback step 3: the nested login's ID token is for us, for this transaction, and fresh."""
    try:
        claims = verify_rs256(token, keys)
        check_common_claims(claims, issuer=settings.issuer, audience=settings.client_id, now=now)
        check_login_claims(claims, nonce=txn.nonce, not_before=txn.created_at)
    except TokenRejected as exc:
        raise LinkError(
            Code.INVALID_SECONDARY_TOKEN,
            f"The other account's ID token was refused: {exc}.",
            by_clock=exc.by_clock,
        ) from None
    return claims


# The connection the nested login actually used, as the shim puts it into the ID token for
# linker's own client (`api.idToken.setCustomClaim`): `{"name": ..., "strategy": ...}`.
CONNECTION_CLAIM = "https://linker/connection"


def check_login_connection(claims: Mapping[str, Any], txn: Transaction) -> None:
    """Callback step 3 (every action): the nested login happened at the transaction's
    connection. Its `/authorize` goes through the browser, which can rewrite `connection=`:
    at another identity linked to the same user, the tenant answers with the same `sub`."""
    used = claims.get(CONNECTION_CLAIM)
    name = used.get("name") if isinstance(used, Mapping) else None
    if not isinstance(name, str):
        raise LinkError(
            Code.LOGIN_CONNECTION_MISMATCH,
            "The tenant did not say which connection the sign-in used: the linker Action "
            "must be the current one.",
        )
    if name != txn.connection:
        raise LinkError(
            Code.LOGIN_CONNECTION_MISMATCH,
            "The sign-in used another connection than the one asked for; nothing was changed.",
        )


def secondary_identity(claims: Mapping[str, Any], txn: Transaction, settings: Policy) -> Identity:
    """Callback step 4 (link): the checks on who signed in, before anything is written."""
    sub = str(claims["sub"])
    try:
        split_user_id(sub)
    except ValueError:
        raise LinkError(
            Code.INVALID_SECONDARY_TOKEN, "The other account's ID token has no provider|id 'sub'."
        ) from None
    if sub == txn.primary_user_id:
        raise LinkError(Code.SAME_ACCOUNT, "You signed in with the account you are linking to.")
    if settings.require_verified_secondary_email and claims.get("email_verified") is not True:
        raise LinkError(
            Code.SECONDARY_EMAIL_NOT_VERIFIED,
            "The other account's email address is not verified.",
        )
    if settings.require_same_email:
        theirs = claims.get("email")
        ours = txn.primary_email
        if not ours or not isinstance(theirs, str) or not same_email(theirs, ours):
            raise LinkError(Code.EMAIL_MISMATCH, "The other account has a different email address.")
    provider, user_id = split_user_id(sub)
    return Identity(provider=provider, user_id=user_id, connection=txn.connection)


_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def same_email(a: str, b: str) -> bool:
    """Equal after folding the case of ASCII letters only, and Unicode NFC.

    Full case folding would make a KELVIN SIGN equal `k` and `straße` equal `strasse`: two
    different mailboxes at most providers, and a way to pass for someone else.
    """
    return _fold(a) == _fold(b)


_KELVIN = "\u212a"


def _fold(address: str) -> str:
    # NFC first, so that two spellings of one address fold alike: `E` + U+0301 composes to
    # `É`, which is not ASCII and keeps its case, as the precomposed `É` does. NFC turns the
    # KELVIN SIGN into an ASCII `K`, the one letter it makes ASCII, which must not fold to `k`:
    # the parts between KELVIN SIGNs are folded apart, and the signs kept as they are (NFC
    # never makes one, so they match only each other).
    parts = address.split(_KELVIN)
    return _KELVIN.join(unicodedata.normalize("NFC", p).translate(_ASCII_UPPER) for p in parts)


def check_reauthentication(claims: Mapping[str, Any], txn: Transaction) -> Identity:
    """Callback step 4 (unlink): the re-authenticated user is the primary."""
    if claims.get("sub") != txn.primary_user_id:
        raise LinkError(
            Code.REAUTHENTICATION_FAILED,
            "Sign in with the account the identity is linked to, to unlink it.",
        )
    assert txn.target is not None
    return txn.target


def check_secondary_user(user: Mapping[str, Any], expected: Identity) -> Identity:
    """Commit step 3: the secondary is still a user of its own, at the requested connection,
    with nothing linked to it. Returns its identity as the tenant lists it."""
    identities = user.get("identities")
    listed = [i for i in identities_of(user) if i.full_id == expected.full_id]
    if user.get("user_id") != expected.full_id or not listed:
        raise LinkError(Code.IDENTITY_CONFLICT, "The other account is no longer a user of its own.")
    if listed[0].connection != expected.connection:
        # Signing in with an identity that is linked into a user makes the ID token's `sub`
        # that user's id, so the "other account" is a user who already has an identity at
        # the requested connection: the account is someone else's, not of the wrong kind.
        if any(i.connection == expected.connection for i in identities_of(user)):
            raise LinkError(
                Code.LINKED_TO_ANOTHER_USER,
                "The account you signed in to is already linked to another user; unlink it "
                "there first.",
            )
        raise LinkError(
            Code.CONNECTION_MISMATCH,
            "The other account belongs to another connection than the one asked for.",
        )
    if isinstance(identities, list) and len(identities) > 1:
        raise LinkError(
            Code.SECONDARY_HAS_LINKED_IDENTITIES,
            "The other account has accounts linked to it; unlink them first.",
        )
    return listed[0]
