"""Your application in the test stack, in one place: its clients, the connections and users it
needs, and linker's settings for the session.

    config = StackConfig(
        clients=[AppClient("my-app", secret=SECRET, callbacks=[f"{app_url}/callback"])],
        linker=LinkerOptions(require_same_email=True),
    )
    bob = config.seed.add_user(connection="github", email="bob@example.com", email_verified=True)

`linker.testing.run_stack(config)`, the pytest fixture `linker_stack_config` and
`linker stack --config FILE` all take it; `StackConfig.from_file` reads the same as JSON, so a
suite in another language describes its application the same way. The seed starts from the
dev tenant's bundled one (its users and connections stay available) unless told otherwise.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linker.devtenant import Seed, SeedError, bundled_seed_data, load_seed

COMPANION_CLIENT = "linker"  # the companion client the stack runs linker as
APP_TYPES = ("regular_web", "spa", "native", "non_interactive")  # an application's (Auth0's)
_ID_PART = re.compile(r"[^A-Za-z0-9._-]+")


class ConfigError(ValueError):
    """A stack configuration that cannot be served; the message names the field."""


@dataclass(frozen=True)
class AppClient:
    """One of your application's clients (an Auth0 Application), as the tenant knows it.

    `secret` is None for a public client (`app_type="spa"`, or a native app): it redeems codes
    with PKCE instead. `grants` are the Management API scopes it may get with client
    credentials (for example `read:users` to list a user's identities).
    """

    client_id: str
    secret: str | None = field(default=None, repr=False)
    callbacks: Sequence[str] = ()
    app_type: str = "regular_web"
    name: str | None = None
    logout_urls: Sequence[str] = ()
    web_origins: Sequence[str] = ()
    grants: Sequence[str] = ()
    rotate_refresh_tokens: bool = False
    first_party: bool = True

    @property
    def is_public(self) -> bool:
        return self.secret is None

    def seed_entry(self) -> dict[str, Any]:
        """This client as an entry of the seed's `clients`."""
        where = f"clients[{self.client_id}]"
        if self.client_id == COMPANION_CLIENT:
            raise ConfigError(f"{where}: {COMPANION_CLIENT!r} is the stack's own linker client")
        if self.app_type not in APP_TYPES:
            raise ConfigError(f"{where}.app_type: one of {list(APP_TYPES)}")
        if self.secret is None and self.app_type in ("regular_web", "non_interactive"):
            raise ConfigError(f"{where}.secret: a {self.app_type} client needs a secret")
        entry: dict[str, Any] = {
            "client_id": self.client_id,
            "name": self.name or self.client_id,
            "app_type": self.app_type,
            "callbacks": list(self.callbacks),
            "allowed_logout_urls": list(self.logout_urls),
            "web_origins": list(self.web_origins),
            "management_scopes": list(self.grants),
            "rotate_refresh_tokens": self.rotate_refresh_tokens,
            "is_first_party": self.first_party,
        }
        if self.secret is None:
            entry["token_endpoint_auth_method"] = "none"  # noqa: S105 (a public client)
        else:
            entry["client_secret"] = self.secret
        return entry


@dataclass(frozen=True)
class LinkerOptions:
    """linker's settings for the session.

    `allowed_clients`: the clients that may ask for a link (default: every client of the
    `StackConfig`, or the bundled `demo-app` when it names none). `env` passes any other
    setting by its `LINKER_*` name, as `linker serve` reads it (for example the
    suggested-linking mode or an events endpoint); it wins over everything the stack sets.
    """

    allowed_clients: Sequence[str] | None = None
    require_same_email: bool = False
    env: Mapping[str, str] = field(default_factory=dict)


class TenantSeed:
    """The dev tenant's seed as a suite builds it: connections, clients and users, with typed
    helpers in place of raw JSON. `TenantSeed()` starts from the bundled seed,
    `TenantSeed.empty()` from nothing; `data()` is the seed JSON (`POST /__admin/seed`)."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = copy.deepcopy(
            dict(data) if data is not None else bundled_seed_data()
        )
        for key in ("connections", "clients", "users"):
            self._data.setdefault(key, [])
        self._next = 0

    @classmethod
    def empty(cls) -> TenantSeed:
        return cls({"connections": [], "clients": [], "users": []})

    def copy(self) -> TenantSeed:
        twin = TenantSeed(self._data)
        twin._next = self._next
        return twin

    def data(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    def seed(self) -> Seed:
        """The seed, validated: `ConfigError` names the first bad field."""
        try:
            return load_seed(self._data)
        except SeedError as exc:
            raise ConfigError(f"seed: {exc}") from None

    @property
    def user_ids(self) -> list[str]:
        return [str(user["user_id"]) for user in self._data["users"]]

    def add_connection(
        self,
        name: str,
        *,
        strategy: str | None = None,
        purposes: Sequence[str] = ("authentication",),
        default_scopes: Sequence[str] = (),
    ) -> str:
        """A connection (replacing one of the same name). `strategy` is the provider, such as
        `github` (default: the name); `auth0` makes a database connection."""
        entry = {
            "name": name,
            "id": f"con_{_ID_PART.sub('_', name)}",
            "strategy": strategy or name,
            "purposes": list(purposes),
            "default_scopes": list(default_scopes),
        }
        self._replace("connections", "name", entry)
        return name

    def add_client(self, client: AppClient) -> str:
        """A client (replacing one with the same id)."""
        self._replace("clients", "client_id", client.seed_entry())
        return client.client_id

    def add_user(
        self,
        *,
        connection: str,
        email: str | None = None,
        email_verified: bool = False,
        name: str | None = None,
        user_id: str | None = None,
        user_metadata: Mapping[str, Any] | None = None,
        app_metadata: Mapping[str, Any] | None = None,
        password: str | None = None,
        granted_scopes: Sequence[str] = (),
    ) -> str:
        """A user who signs in at `connection`; returns their id (`provider|user_id`).

        `user_id` is the provider's id for them (default: made from the email).
        `granted_scopes` is what Token Vault holds for this identity (a social connection
        used only to log in). `password` is a database user's, for the password grant.
        """
        provider = self._provider(connection)
        local = user_id or self._local_id(email)
        full_id = f"{provider}|{local}"
        if full_id in self._identity_ids():
            raise ConfigError(f"users: {full_id!r} exists already")
        entry: dict[str, Any] = {
            "user_id": full_id,
            "email": email,
            "email_verified": email_verified,
            "name": name or email or local,
            "identities": [
                {"connection": connection, "user_id": local, "granted_scopes": list(granted_scopes)}
            ],
            "user_metadata": dict(user_metadata or {}),
            "app_metadata": dict(app_metadata or {}),
        }
        if password is not None:
            entry["password"] = password
        self._data["users"].append(entry)
        return full_id

    def add_identity(
        self,
        user: str,
        *,
        connection: str,
        email: str | None = None,
        email_verified: bool = False,
        user_id: str | None = None,
        granted_scopes: Sequence[str] = (),
    ) -> str:
        """An identity already linked to `user` (for `already_linked`, unlink, a secondary with
        linked identities); returns the identity's id (`provider|user_id`)."""
        owner = next((u for u in self._data["users"] if u["user_id"] == user), None)
        if owner is None:
            raise ConfigError(f"users: no user {user!r}")
        provider = self._provider(connection)
        local = user_id or self._local_id(email)
        full_id = f"{provider}|{local}"
        if full_id in self._identity_ids():
            raise ConfigError(f"users: identity {full_id!r} exists already")
        owner["identities"].append(
            {
                "connection": connection,
                "user_id": local,
                "granted_scopes": list(granted_scopes),
                "profileData": {"email": email, "email_verified": email_verified},
            }
        )
        return full_id

    def remove_user(self, user: str) -> None:
        kept = [u for u in self._data["users"] if u["user_id"] != user]
        if len(kept) == len(self._data["users"]):
            raise ConfigError(f"users: no user {user!r}")
        self._data["users"] = kept

    def _replace(self, key: str, id_key: str, entry: dict[str, Any]) -> None:
        items = [i for i in self._data[key] if i.get(id_key) != entry[id_key]]
        self._data[key] = [*items, entry]

    def _provider(self, connection: str) -> str:
        for entry in self._data["connections"]:
            if entry.get("name") == connection:
                return str(entry.get("strategy") or connection)
        known = [c.get("name") for c in self._data["connections"]]
        raise ConfigError(f"connection: unknown connection {connection!r} (the seed has {known})")

    def _identity_ids(self) -> set[str]:
        ids = set()
        for user in self._data["users"]:
            for identity in user.get("identities", []):
                ids.add(f"{self._provider(identity['connection'])}|{identity['user_id']}")
        return ids

    def _local_id(self, email: str | None) -> str:
        self._next += 1
        stem = _ID_PART.sub("-", email.split("@", 1)[0]) if email else "user"
        return f"{stem}-{self._next}"


@dataclass
class StackConfig:
    """Everything the stack serves for your suite: see the module docstring."""

    clients: Sequence[AppClient] = ()
    seed: TenantSeed = field(default_factory=TenantSeed)
    linker: LinkerOptions = field(default_factory=LinkerOptions)

    @property
    def allowed_clients(self) -> tuple[str, ...]:
        if self.linker.allowed_clients is not None:
            return tuple(self.linker.allowed_clients)
        return tuple(c.client_id for c in self.clients) or ("demo-app",)

    def client(self, client_id: str) -> AppClient | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

    @classmethod
    def from_file(cls, path: Path) -> StackConfig:
        """Read a stack configuration from JSON (see `from_json` for its shape)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read the stack configuration: {exc}") from None
        try:
            return cls.from_json(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    @classmethod
    def from_json(cls, data: Any) -> StackConfig:
        """The JSON form, every key optional:

        {"seed": "bundled" | "empty" | {seed JSON},
         "connections": [{"name", "strategy", "purposes", "default_scopes"}],
         "clients": [{"client_id", "secret", "callbacks", "app_type", "name",
                      "logout_urls", "web_origins", "grants", "rotate_refresh_tokens",
                      "first_party"}],
         "users": [{"connection", "email", "email_verified", "name", "user_id",
                    "user_metadata", "app_metadata", "password", "granted_scopes"}],
         "linker": {"allowed_clients", "require_same_email", "env": {"LINKER_...": "..."}}}
        """
        obj = _object(data, "config", {"seed", "connections", "clients", "users", "linker"})
        base = obj.get("seed", "bundled")
        if base == "bundled":
            seed = TenantSeed()
        elif base == "empty":
            seed = TenantSeed.empty()
        elif isinstance(base, Mapping):
            seed = TenantSeed(base)
        else:
            raise ConfigError('seed: "bundled", "empty" or a seed object')
        for i, item in enumerate(_list(obj, "connections")):
            fields = _object(
                item, f"connections[{i}]", {"name", "strategy", "purposes", "default_scopes"}
            )
            try:
                seed.add_connection(**fields)
            except TypeError:
                raise ConfigError(f"connections[{i}].name: required") from None
        clients = []
        for i, item in enumerate(_list(obj, "clients")):
            fields = _object(item, f"clients[{i}]", set(AppClient.__dataclass_fields__))
            if not isinstance(fields.get("client_id"), str):
                raise ConfigError(f"clients[{i}].client_id: required")
            clients.append(AppClient(**fields))
        user_fields = {
            "connection",
            "email",
            "email_verified",
            "name",
            "user_id",
            "user_metadata",
            "app_metadata",
            "password",
            "granted_scopes",
        }
        for i, item in enumerate(_list(obj, "users")):
            fields = _object(item, f"users[{i}]", user_fields)
            if not isinstance(fields.get("connection"), str):
                raise ConfigError(f"users[{i}].connection: required")
            seed.add_user(**fields)
        options = _object(
            obj.get("linker", {}), "linker", {"allowed_clients", "require_same_email", "env"}
        )
        env = options.get("env", {})
        if not isinstance(env, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise ConfigError("linker.env: an object of LINKER_* names to string values")
        linker = LinkerOptions(
            allowed_clients=options.get("allowed_clients"),
            require_same_email=bool(options.get("require_same_email", False)),
            env=dict(env),
        )
        config = cls(clients=clients, seed=seed, linker=linker)
        config.check()
        return config

    def check(self) -> None:
        """Raise `ConfigError` naming the first field the stack could not serve."""
        for client in self.clients:
            client.seed_entry()
        ids = [c.client_id for c in self.clients]
        if len(set(ids)) != len(ids):
            raise ConfigError("clients: a client_id appears twice")
        for name in self.linker.env:
            if not name.startswith("LINKER_"):
                raise ConfigError(f"linker.env: {name!r} is not a LINKER_* setting")
        self.seed.seed()


def _object(item: Any, where: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected an object")
    unknown = sorted(set(item) - keys)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key (known: {sorted(keys)})")
    return dict(item)


def _list(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected a list")
    return value
