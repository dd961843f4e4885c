"""Suggested linking at sign-in, as pure decisions (docs/protocol.md section 8).

Who may be offered to the user who has just signed in, what the nested login must prove, and
what the commit may write. An email address alone never links anything: a candidate is only
*offered*, and only one whose email is verified; the link needs the same proof of control as
any link (the nested login at the candidate's own connection). The older account is the
primary, so an account registered later, by anyone, can never take over the first one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from linker.core.action_tokens import PrimaryProfile, StartRequest
from linker.core.decisions import same_email
from linker.core.errors import Code, LinkError
from linker.core.identities import Identity, identities_of, split_user_id
from linker.core.transaction import Transaction

MODES = frozenset({"suggest", "require"})
MAX_CANDIDATES = 5
# The key of the current user's app_metadata that remembers a "Not now".
DECLINE_KEY = "linker_suggest"


def lookup_emails(email: str | None) -> list[str]:
    """The addresses to ask `users-by-email` for: the user's, and its ASCII lower case when it
    differs (Auth0 stores database users' emails in lower case, other providers' as given, and
    the search is exact). Depends only on the user's own address, never on what is found."""
    if not email:
        return []
    lower = email.translate(_ASCII_LOWER)
    return [email] if lower == email else [email, lower]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def check_request(req: StartRequest) -> str:
    """The start token is a suggestion's; returns its mode."""
    if req.action != "suggest" or req.suggest not in MODES:
        raise LinkError(
            Code.INVALID_REQUEST, "This sign-in was not sent to suggest linking accounts."
        )
    return req.suggest


def candidates(req: StartRequest, users: Iterable[Mapping[str, Any]]) -> list[Identity]:
    """The accounts that may be offered, oldest first: other users, with a verified email equal
    to the current user's after folding, older than the current user, and not already one of
    its identities. The current user must be among `users` (its own sign-up time decides)."""
    if not req.email_verified or not req.email or len(req.identities) > 1:
        return []
    by_id: dict[str, Mapping[str, Any]] = {}
    for user in users:
        user_id = user.get("user_id")
        if isinstance(user_id, str):
            by_id[user_id] = user
    me = by_id.get(req.sub)
    mine = _created(me) if me is not None else None
    if mine is None:
        return []
    own = {i.full_id for i in req.identities} | {req.sub}
    found: list[tuple[float, Identity]] = []
    for user_id, user in by_id.items():
        created = _created(user)
        email = user.get("email")
        if (
            user_id in own
            or user.get("email_verified") is not True
            or not isinstance(email, str)
            or not same_email(email, req.email)
            or created is None
            or created >= mine
        ):
            continue
        identity = _own_identity(user_id, user)
        if identity is not None:
            found.append((created, identity))
    found.sort(key=lambda pair: pair[0])
    return [identity for _, identity in found[:MAX_CANDIDATES]]


def _created(user: Mapping[str, Any]) -> float | None:
    raw = user.get("created_at")
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    try:
        return datetime.fromisoformat(raw).timestamp()
    except ValueError:
        return None


def _own_identity(user_id: str, user: Mapping[str, Any]) -> Identity | None:
    """The identity a user id is made of: the one the candidate signs in with."""
    try:
        split_user_id(user_id)
    except ValueError:
        return None
    return next((i for i in identities_of(user) if i.full_id == user_id), None)


@dataclass(frozen=True)
class Offer:
    """The candidates shown to one browser, waiting for the user's choice. `id` is secret."""

    id: str
    primary: str  # the current user
    email: str | None
    client_id: str
    outer_state: str
    mode: str
    ip: str | None
    created_at: float
    expires_at: float
    candidates: tuple[Identity, ...]

    def dumps(self) -> str:
        data = {k: v for k, v in self.__dict__.items() if k not in ("id", "candidates")}
        data["candidates"] = [c.to_claim() for c in self.candidates]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, offer_id: str, raw: str) -> Offer:
        data = json.loads(raw)
        found = tuple(Identity(**c) for c in data.pop("candidates"))
        return cls(id=offer_id, candidates=found, **data)


def check_offer(offer: Offer | None, *, now: float) -> Offer:
    """The offer existed, was not used, and has not expired."""
    if offer is None:
        raise LinkError(
            Code.TRANSACTION_NOT_FOUND,
            "This choice was already made or is unknown. Sign in again.",
        )
    if now > offer.expires_at:
        raise LinkError(
            Code.TRANSACTION_EXPIRED, "This choice took too long. Sign in again.", by_clock=True
        )
    return offer


def chosen(offer: Offer, index: str) -> Identity:
    """The candidate the user picked, by its place on the page."""
    if not index.isascii() or not index.isdigit() or len(index) > 2:
        raise LinkError(Code.INVALID_REQUEST, "The choice names no account on the page.")
    n = int(index)
    if n >= len(offer.candidates):
        raise LinkError(Code.INVALID_REQUEST, "The choice names no account on the page.")
    return offer.candidates[n]


def refused(mode: str) -> LinkError | None:
    """ "Not now" / "Sign out": None when it may be remembered (`suggest`), else the denial."""
    if mode == "suggest":
        return None
    return LinkError(Code.LINK_REQUIRED, "Link your accounts to sign in.")


def check_candidate(claims: Mapping[str, Any], txn: Transaction) -> Identity:
    """Callback for a suggestion: the nested login proved control of the very candidate shown,
    whose email is verified and the current user's."""
    expected = txn.target
    assert expected is not None  # a suggestion's transaction names its candidate
    if claims.get("sub") != expected.full_id:
        raise LinkError(
            Code.CANDIDATE_MISMATCH,
            "You signed in to another account than the one offered; nothing was linked.",
        )
    if claims.get("email_verified") is not True:
        raise LinkError(
            Code.SECONDARY_EMAIL_NOT_VERIFIED, "The other account's email address is not verified."
        )
    theirs = claims.get("email")
    if not txn.primary_email or not isinstance(theirs, str):
        raise LinkError(Code.EMAIL_MISMATCH, "The other account has a different email address.")
    if not same_email(theirs, txn.primary_email):
        raise LinkError(Code.EMAIL_MISMATCH, "The other account has a different email address.")
    return expected


def current_identity(profile: PrimaryProfile, sub: str) -> Identity:
    """Commit: the signed-in user, to be linked into the candidate, has only its own identity."""
    own = [i for i in profile.identities if i.full_id == sub]
    if len(profile.identities) != 1 or not own:
        raise LinkError(
            Code.SECONDARY_HAS_LINKED_IDENTITIES,
            "This account has accounts linked to it; it cannot be linked into another.",
        )
    return own[0]


def check_candidate_user(user: Mapping[str, Any], expected: Identity) -> PrimaryProfile:
    """Commit: the candidate, read now, is still a user of its own with a verified email.
    Returns it as the primary the merge is computed against."""
    if user.get("user_id") != expected.full_id:
        raise LinkError(Code.IDENTITY_CONFLICT, "The other account is no longer a user of its own.")
    if user.get("email_verified") is not True:
        raise LinkError(Code.EMAIL_MISMATCH, "The other account's email address changed.")
    return PrimaryProfile(
        identities=tuple(identities_of(user)),
        user_metadata=_object(user.get("user_metadata")),
        app_metadata=_object(user.get("app_metadata")),
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def decline_patch(now: float) -> dict[str, Any]:
    """The PATCH that remembers "Not now": only our own key of `app_metadata`."""
    return {"app_metadata": {DECLINE_KEY: {"declined_at": int(now)}}}


def connection_names(found: Sequence[Identity]) -> list[str]:
    """What the page may say about the candidates: their connections, nothing else."""
    return [c.connection for c in found]
