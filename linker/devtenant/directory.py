"""The tenant's users and what the Management API does to them, as plain data operations.

Nothing here knows about HTTP: the routes in `management.py` answer a `ManagementError` in
Auth0's error shape. The statuses and messages are the ones docs/protocol.md section 2 relies on,
so a client written against this directory behaves the same against a real tenant.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from linker.devtenant.errors import ManagementError
from linker.devtenant.seed import ConnectedAccount, Identity, Profile, ProviderAccount, Seed

PATCHABLE_PROFILE = ("email", "email_verified", "name")
# Seeded users signed up one minute apart, in seed order, from 2024-01-01T00:00:00Z.
SEED_SIGNUPS_FROM, SIGNUP_SPACING = 1_704_067_200.0, 60.0


def user_not_found() -> ManagementError:
    return ManagementError(404, "The user does not exist.", "inexistent_user")


@dataclass
class User:
    identities: list[Identity]  # [0] is the primary identity; its profile is the user's
    user_metadata: dict[str, Any]
    app_metadata: dict[str, Any]
    enrolled_factors: tuple[str, ...] = ()
    connected_accounts: list[ConnectedAccount] = field(default_factory=list)
    provider_accounts: tuple[ProviderAccount, ...] = ()
    created_at: float = 0.0  # UNIX seconds; the seed's order is the order of sign-up

    @property
    def user_id(self) -> str:
        return self.identities[0].full_id

    @property
    def profile(self) -> Profile:
        return self.identities[0].profile

    def identity(self, full_id: str) -> Identity | None:
        return next((i for i in self.identities if i.full_id == full_id), None)

    def record_grant(self, identity: Identity, scopes: Iterable[str]) -> None:
        """A login through a connection leaves a tokenset with these scopes (Token Vault)."""
        granted = identity.granted_scopes | frozenset(scopes)
        self.identities = [
            replace(i, granted_scopes=granted) if i is identity else i for i in self.identities
        ]


class Directory:
    """Every user of the tenant, keyed by user id, in seed order."""

    def __init__(self, seed: Seed) -> None:
        self._users: dict[str, User] = {}
        self._connection_ids = {c.name: c.id for c in seed.connections}
        for n, seeded in enumerate(seed.users):
            self._users[seeded.user_id] = User(
                identities=list(seeded.identities),
                user_metadata=copy.deepcopy(dict(seeded.user_metadata)),
                app_metadata=copy.deepcopy(dict(seeded.app_metadata)),
                enrolled_factors=seeded.enrolled_factors,
                connected_accounts=list(seeded.connected_accounts),
                provider_accounts=seeded.provider_accounts,
                created_at=SEED_SIGNUPS_FROM + n * SIGNUP_SPACING,
            )

    def __iter__(self) -> Iterator[User]:
        return iter(list(self._users.values()))

    def get(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def require(self, user_id: str) -> User:
        user = self._users.get(user_id)
        if user is None:
            raise user_not_found()
        return user

    def by_email(self, email: str) -> list[User]:
        """GET /api/v2/users-by-email: an exact, case-sensitive match on the user's email, as
        Auth0's (https://auth0.com/docs/manage-users/user-search/retrieve-users-with-get-users-by-email-endpoint).
        Database users' emails are stored in lower case by Auth0; the seed writes them so."""
        return [u for u in self._users.values() if u.profile.email == email]

    def owner_of(self, identity_id: str) -> tuple[User, Identity] | None:
        """The user an identity signs in as: a linked secondary signs in as its primary."""
        for user in self._users.values():
            identity = user.identity(identity_id)
            if identity is not None:
                return user, identity
        return None

    def identities_of(self, connection: str) -> list[tuple[User, Identity]]:
        return [
            (u, i) for u in self._users.values() for i in u.identities if i.connection == connection
        ]

    def connect(self, user_id: str, account: ConnectedAccount) -> None:
        """A completed connect flow: one connected account per account at the provider (work and
        personal GitHub are two); connecting the same one again replaces it."""
        user = self.require(user_id)
        kept = [
            a
            for a in user.connected_accounts
            if (a.connection, a.account) != (account.connection, account.account)
        ]
        user.connected_accounts = [*kept, account]

    def patch(self, user_id: str, body: Any) -> User:
        """PATCH /api/v2/users/{id}: metadata merges at the top level, null deletes a key."""
        user = self.require(user_id)
        if not isinstance(body, Mapping):
            raise _invalid_body("Payload validation error: 'Expected type object'.")
        allowed = {"user_metadata", "app_metadata", *PATCHABLE_PROFILE}
        extra = sorted(set(body) - allowed)
        if extra:
            raise _invalid_body(
                f"Payload validation error: 'Additional properties not allowed: {extra[0]}'."
            )
        for key in ("user_metadata", "app_metadata"):
            if key in body and not isinstance(body[key], Mapping | None):
                raise _invalid_body(f"Payload validation error: '{key} must be an object'.")
        for key in ("user_metadata", "app_metadata"):
            if key in body:
                setattr(user, key, merge_metadata(getattr(user, key), body[key]))
        changes = {k: body[k] for k in PATCHABLE_PROFILE if k in body}
        if changes:
            primary = user.identities[0]
            user.identities[0] = replace(primary, profile=replace(primary.profile, **changes))
        return user

    def link(self, primary_id: str, body: Any) -> list[Identity]:
        """POST /api/v2/users/{id}/identities: move a standalone user into the primary."""
        primary = self.require(primary_id)
        if not isinstance(body, Mapping):
            raise _invalid_body("Payload validation error: 'Expected type object'.")
        provider = body.get("provider")
        secondary_uid = body.get("user_id")
        if isinstance(secondary_uid, int) and not isinstance(secondary_uid, bool):
            secondary_uid = str(secondary_uid)  # Auth0 accepts numeric ids (GitHub's are)
        if not isinstance(provider, str) or not provider:
            raise _invalid_body("Payload validation error: 'Missing required property: provider'.")
        if not isinstance(secondary_uid, str) or not secondary_uid:
            raise _invalid_body("Payload validation error: 'Missing required property: user_id'.")
        secondary_id = f"{provider}|{secondary_uid}"
        if secondary_id == primary.user_id:
            raise ManagementError(
                400, "Main identity and the new one are the same.", "operation_not_supported"
            )
        if primary.identity(secondary_id) is not None:
            raise ManagementError(409, "Specified identity already exists.", "identity_conflict")
        secondary = self._users.get(secondary_id)
        connection_id = body.get("connection_id")
        if secondary is None or (
            connection_id is not None and not self._connection_matches(secondary, connection_id)
        ):
            raise ManagementError(400, "Provided secondary account not found.", "inexistent_user")
        if len(secondary.identities) > 1:
            raise ManagementError(
                400, "Unable to link with the secondary account.", "operation_not_supported"
            )
        # The secondary user disappears: its root profile stays as profileData, its metadata
        # is discarded, as Auth0 does.
        primary.identities.extend(secondary.identities)
        del self._users[secondary_id]
        return list(primary.identities)

    def unlink(self, primary_id: str, provider: str, secondary_uid: str) -> list[Identity]:
        """DELETE /api/v2/users/{id}/identities/{provider}/{user_id}."""
        primary = self.require(primary_id)
        secondary_id = f"{provider}|{secondary_uid}"
        if secondary_id == primary.user_id:
            raise ManagementError(
                400, "Main identity cannot be removed.", "operation_not_supported"
            )
        identity = primary.identity(secondary_id)
        if identity is None:
            return list(primary.identities)  # Auth0 answers 200 with nothing to remove
        primary.identities.remove(identity)
        self._users[secondary_id] = User(
            identities=[identity],
            user_metadata={},
            app_metadata={},
            created_at=max(u.created_at for u in self._users.values()) + SIGNUP_SPACING,
        )
        return list(primary.identities)

    def _connection_matches(self, user: User, connection_id: Any) -> bool:
        return bool(self._connection_ids.get(user.identities[0].connection) == connection_id)


def merge_metadata(current: Mapping[str, Any], patch: Mapping[str, Any] | None) -> dict[str, Any]:
    """Auth0's merge: top-level keys replace, null deletes, an empty object clears."""
    if patch is None or not patch:
        return {}
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def identity_json(identity: Identity, *, primary: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "provider": identity.provider,
        "user_id": identity.user_id,
        "connection": identity.connection,
        "isSocial": identity.is_social,
    }
    if not primary:
        data["profileData"] = _profile_json(identity.profile)
    return data


def identities_json(identities: list[Identity]) -> list[dict[str, Any]]:
    return [identity_json(i, primary=n == 0) for n, i in enumerate(identities)]


def user_json(user: User) -> dict[str, Any]:
    """A user in the Management API's shape."""
    return {
        "user_id": user.user_id,
        **_profile_json(user.profile),
        "identities": identities_json(user.identities),
        "user_metadata": copy.deepcopy(user.user_metadata),
        "app_metadata": copy.deepcopy(user.app_metadata),
        "created_at": _iso(user.created_at),
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _profile_json(profile: Profile) -> dict[str, Any]:
    data: dict[str, Any] = {"email_verified": profile.email_verified}
    if profile.email is not None:
        data["email"] = profile.email
    if profile.name is not None:
        data["name"] = profile.name
    return data


def _invalid_body(message: str) -> ManagementError:
    return ManagementError(400, message, "invalid_body")
