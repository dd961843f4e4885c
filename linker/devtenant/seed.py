"""What a dev tenant starts from: connections, clients and users, read from JSON.

The seed is immutable; the tenant copies its users into a mutable directory, so a reset
(`POST /__admin/reset`) always returns to exactly this. `load_seed` validates everything a
test could get wrong and names the offending field, so a typo fails at start, not mid-flow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

DATABASE_STRATEGY = "auth0"


class SeedError(ValueError):
    """A seed that cannot describe a tenant; the message names the field."""


@dataclass(frozen=True)
class Connection:
    name: str
    id: str
    strategy: str  # "auth0" for a database connection, else the social provider's name
    default_scopes: tuple[str, ...] = ()  # what a plain login through it grants (Token Vault)

    @property
    def provider(self) -> str:
        return self.strategy

    @property
    def is_social(self) -> bool:
        return self.strategy != DATABASE_STRATEGY


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    client_secret: str = field(repr=False)
    callbacks: tuple[str, ...]
    app_type: str = "regular_web"
    management_scopes: tuple[str, ...] = ()  # client-credentials grant on the Management API
    # "none" for a public client (a single-page app): no secret at /oauth/token, PKCE instead.
    auth_method: str = "client_secret_post"  # Auth0's token_endpoint_auth_method
    web_origins: tuple[str, ...] = ()  # Allowed Web Origins: web_message and CORS
    rotate_refresh_tokens: bool = False  # Auth0's refresh token rotation

    @property
    def is_public(self) -> bool:
        return self.auth_method == "none"


@dataclass(frozen=True)
class Api:
    """A custom API (resource server): `audience` at /authorize gets a JWT access token for it."""

    identifier: str
    name: str


@dataclass(frozen=True)
class Profile:
    email: str | None = None
    email_verified: bool = False
    name: str | None = None


@dataclass(frozen=True)
class Identity:
    connection: str
    provider: str
    user_id: str  # the part after the first "|"
    is_social: bool
    profile: Profile
    granted_scopes: frozenset[str] = frozenset()  # non-empty: Token Vault holds a tokenset

    @property
    def full_id(self) -> str:
        return f"{self.provider}|{self.user_id}"


@dataclass(frozen=True)
class SeedUser:
    identities: tuple[Identity, ...]  # the first is the primary; its profile is the user's
    user_metadata: Mapping[str, Any]
    app_metadata: Mapping[str, Any]
    enrolled_factors: tuple[str, ...] = ()
    comment: str = ""

    @property
    def user_id(self) -> str:
        return self.identities[0].full_id


@dataclass(frozen=True)
class Seed:
    connections: tuple[Connection, ...]
    clients: tuple[Client, ...]
    users: tuple[SeedUser, ...]
    apis: tuple[Api, ...] = ()

    def api(self, identifier: str) -> Api | None:
        return next((a for a in self.apis if a.identifier == identifier), None)

    def connection(self, name: str) -> Connection | None:
        return next((c for c in self.connections if c.name == name), None)

    def client(self, client_id: str) -> Client | None:
        return next((c for c in self.clients if c.client_id == client_id), None)


def split_user_id(user_id: str) -> tuple[str, str]:
    """`provider|id` split at the FIRST "|": ids themselves may contain "|"."""
    provider, sep, rest = user_id.partition("|")
    if not sep or not provider or not rest:
        raise ValueError(f"not a provider|id user id: {user_id!r}")
    return provider, rest


def load_seed(source: Path | Mapping[str, Any]) -> Seed:
    """Read and validate a seed from a JSON file or an already parsed mapping."""
    if isinstance(source, Path):
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SeedError(f"{source}: cannot read seed: {exc}") from exc
    else:
        data = source
    if not isinstance(data, Mapping):
        raise SeedError("seed: expected a JSON object")
    connections = tuple(
        _connection(item, f"connections[{i}]")
        for i, item in enumerate(_list(data, "connections", "seed"))
    )
    _unique([c.name for c in connections], "connections", "name")
    _unique([c.id for c in connections], "connections", "id")
    by_name = {c.name: c for c in connections}
    clients = tuple(
        _client(item, f"clients[{i}]") for i, item in enumerate(_list(data, "clients", "seed"))
    )
    _unique([c.client_id for c in clients], "clients", "client_id")
    users = tuple(
        _user(item, f"users[{i}]", by_name) for i, item in enumerate(_list(data, "users", "seed"))
    )
    _unique([i.full_id for u in users for i in u.identities], "users", "identity")
    apis = tuple(_api(item, f"apis[{i}]") for i, item in enumerate(_list(data, "apis", "seed")))
    _unique([a.identifier for a in apis], "apis", "identifier")
    return Seed(connections=connections, clients=clients, users=users, apis=apis)


def default_seed(*, app_callback: str, linker_callback: str, spa_origin: str | None = None) -> Seed:
    """The bundled seed, with the sample app's and linker's callback URLs filled in, and the
    single-page sample's origin (its callback, logout URL and web origin) when it runs."""
    text = resources.files("linker.devtenant").joinpath("seed.json").read_text(encoding="utf-8")
    seed = load_seed(json.loads(text))
    callbacks = {"demo-app": (app_callback,), "linker": (linker_callback,)}
    if spa_origin is not None:
        callbacks["demo-spa"] = (spa_origin.rstrip("/") + "/",)
    clients = []
    for client in seed.clients:
        client = replace(client, callbacks=callbacks.get(client.client_id, client.callbacks))
        if client.client_id == "demo-spa" and spa_origin is not None:
            client = replace(client, web_origins=(spa_origin.rstrip("/"),))
        clients.append(client)
    return replace(seed, clients=tuple(clients))


def _connection(item: Any, where: str) -> Connection:
    obj = _object(item, where)
    return Connection(
        name=_str(obj, "name", where),
        id=_str(obj, "id", where),
        strategy=_str(obj, "strategy", where),
        default_scopes=_strs(obj, "default_scopes", where),
    )


def _client(item: Any, where: str) -> Client:
    obj = _object(item, where)
    method = _opt_str(obj, "token_endpoint_auth_method", where) or "client_secret_post"
    if method not in ("none", "client_secret_post", "client_secret_basic"):
        raise SeedError(f"{where}.token_endpoint_auth_method: unknown method {method!r}")
    return Client(
        client_id=_str(obj, "client_id", where),
        name=_str(obj, "name", where),
        # A public client has no secret; an empty one never authenticates anyone.
        client_secret="" if method == "none" else _str(obj, "client_secret", where),
        callbacks=_strs(obj, "callbacks", where),
        app_type=_opt_str(obj, "app_type", where) or "regular_web",
        management_scopes=_strs(obj, "management_scopes", where),
        auth_method=method,
        web_origins=_strs(obj, "web_origins", where),
        rotate_refresh_tokens=_bool(obj, "rotate_refresh_tokens", where),
    )


def _api(item: Any, where: str) -> Api:
    obj = _object(item, where)
    return Api(identifier=_str(obj, "identifier", where), name=_str(obj, "name", where))


def _user(item: Any, where: str, connections: Mapping[str, Connection]) -> SeedUser:
    obj = _object(item, where)
    root = Profile(
        email=_opt_str(obj, "email", where),
        email_verified=_bool(obj, "email_verified", where),
        name=_opt_str(obj, "name", where),
    )
    raw = _list(obj, "identities", where)
    if not raw:
        raise SeedError(f"{where}.identities: a user needs at least one identity")
    identities = tuple(
        _identity(entry, f"{where}.identities[{i}]", connections, root if i == 0 else None)
        for i, entry in enumerate(raw)
    )
    user_id = _str(obj, "user_id", where)
    if user_id != identities[0].full_id:
        raise SeedError(
            f"{where}.user_id: {user_id!r} must be the first identity's provider|user_id "
            f"({identities[0].full_id!r})"
        )
    return SeedUser(
        identities=identities,
        user_metadata=_metadata(obj, "user_metadata", where),
        app_metadata=_metadata(obj, "app_metadata", where),
        enrolled_factors=_strs(obj, "enrolled_factors", where),
        comment=str(obj.get("_comment", "")),
    )


def _identity(
    item: Any, where: str, connections: Mapping[str, Connection], root: Profile | None
) -> Identity:
    obj = _object(item, where)
    name = _str(obj, "connection", where)
    connection = connections.get(name)
    if connection is None:
        raise SeedError(f"{where}.connection: unknown connection {name!r}")
    if root is None:
        data = _object(obj.get("profileData", {}), f"{where}.profileData")
        where_profile = f"{where}.profileData"
        profile = Profile(
            email=_opt_str(data, "email", where_profile),
            email_verified=_bool(data, "email_verified", where_profile),
            name=_opt_str(data, "name", where_profile),
        )
    else:
        profile = root
    return Identity(
        connection=name,
        provider=connection.provider,
        user_id=_str(obj, "user_id", where),
        is_social=connection.is_social,
        profile=profile,
        granted_scopes=frozenset(_strs(obj, "granted_scopes", where)),
    )


def _object(item: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise SeedError(f"{where}: expected an object")
    return item


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise SeedError(f"{where}.{key}: expected a list")
    return value


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise SeedError(f"{where}.{key}: expected a non-empty string")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise SeedError(f"{where}.{key}: expected a string")
    return value


def _bool(obj: Mapping[str, Any], key: str, where: str) -> bool:
    value = obj.get(key, False)
    if not isinstance(value, bool):
        raise SeedError(f"{where}.{key}: expected true or false")
    return value


def _strs(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = _list(obj, key, where)
    if not all(isinstance(v, str) for v in values):
        raise SeedError(f"{where}.{key}: expected a list of strings")
    return tuple(values)


def _metadata(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = obj.get(key, {})
    if not isinstance(value, Mapping):
        raise SeedError(f"{where}.{key}: expected an object")
    return dict(value)


def _unique(values: list[str], where: str, what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise SeedError(f"{where}: duplicate {what} {value!r}")
        seen.add(value)
