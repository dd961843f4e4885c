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
from urllib.parse import urljoin

DATABASE_STRATEGY = "auth0"
# A connection's purposes (Management API `purposes`: `authentication`, `connected_accounts`),
# as "Connected Accounts for Token Vault" documents them:
# https://auth0.com/docs/secure/tokens/token-vault/connected-accounts-for-token-vault
AUTHENTICATION, CONNECTED_ACCOUNTS = "authentication", "connected_accounts"
PURPOSES = frozenset({AUTHENTICATION, CONNECTED_ACCOUNTS})
# The two answers Token Vault gives when it holds nothing for a connection (both seen in the
# wild); which one this tenant gives is a seed setting.
NOT_FOUND_ERRORS = ("tokenset_not_found", "federated_connection_refresh_token_not_found")
APP_TYPES = frozenset({"regular_web", "spa", "native", "non_interactive", "resource_server"})


class SeedError(ValueError):
    """A seed that cannot describe a tenant; the message names the field."""


@dataclass(frozen=True)
class Connection:
    name: str
    id: str
    strategy: str  # "auth0" for a database connection, else the social provider's name
    default_scopes: tuple[str, ...] = ()  # what a plain login through it grants (Token Vault)
    purposes: frozenset[str] = frozenset({AUTHENTICATION})

    @property
    def provider(self) -> str:
        return self.strategy

    @property
    def is_social(self) -> bool:
        return self.strategy != DATABASE_STRATEGY

    @property
    def for_login(self) -> bool:
        return AUTHENTICATION in self.purposes

    @property
    def vault_reads_connected_accounts(self) -> bool:
        """Where Token Vault looks for this connection's tokens.

        With the Connected Accounts purpose on, only in the user's connected accounts (filled by
        the My Account API's connect flow), whether or not the connection is also used to log
        in: a login or a link fills `identities`, which Token Vault then does not read. A
        connection used only to log in keeps the model of tenants before Connected Accounts
        (tokens from logins, kept per identity), so the identities path can still be tested.
        """
        return CONNECTED_ACCOUNTS in self.purposes


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
    allowed_logout_urls: tuple[str, ...] = ()  # the `returnTo` values /v2/logout accepts
    rotate_refresh_tokens: bool = False  # Auth0's refresh token rotation
    # Third-party applications: https://auth0.com/docs/get-started/applications/third-party-applications
    is_first_party: bool = True
    # A Custom API Client (app_type "resource_server") acts for the API with this identifier:
    # https://auth0.com/docs/secure/tokens/token-vault/access-token-exchange-with-token-vault
    resource_server_identifier: str | None = None
    # Multi-Resource Refresh Token: the scopes this client's refresh tokens may get for the My
    # Account API (its refresh_token.policies entry for https://DOMAIN/me/); none: no policy.
    # https://auth0.com/docs/secure/tokens/refresh-tokens/multi-resource-refresh-token
    my_account_refresh_scopes: tuple[str, ...] = ()

    @property
    def is_public(self) -> bool:
        return self.auth_method == "none"


@dataclass(frozen=True)
class Api:
    """A custom API, a resource server (Dashboard > Applications > APIs): an audience and its
    scopes; `audience` at /authorize gets a JWT access token for it."""

    identifier: str
    name: str
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TenantSettings:
    token_vault_not_found_error: str = NOT_FOUND_ERRORS[0]
    # x-ratelimit-* on every Management API answer: requests per window, and whether a request
    # beyond them is refused with 429 (off by default: the tests run on a frozen clock).
    management_rate_limit: int = 50
    management_rate_window: int = 1
    enforce_management_rate_limit: bool = False
    default_directory: str | None = None  # the connection of grant_type=password
    # The My Account API's Default Policy (2FA within 15 minutes, at login and at every refresh
    # token exchange for it): https://auth0.com/docs/manage-users/my-account-api
    my_account_require_2fa: bool = True


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
class ProviderAccount:
    """An account the user holds at a provider (work and personal GitHub, say): what the
    provider's consent page offers in a connect flow, and what a `login_hint` names."""

    connection: str
    user_id: str
    email: str | None = None
    name: str | None = None

    def named_by(self, hint: str) -> bool:
        return hint in (self.user_id, self.email)


@dataclass(frozen=True)
class ConnectedAccount:
    """An account connected through the My Account API; Token Vault keeps its tokens.

    https://auth0.com/docs/secure/tokens/token-vault/connected-accounts-for-token-vault
    """

    id: str
    connection: str
    scopes: frozenset[str]
    created_at: float
    account: ProviderAccount | None = None  # which of the user's accounts at the provider


@dataclass(frozen=True)
class SeedUser:
    identities: tuple[Identity, ...]  # the first is the primary; its profile is the user's
    user_metadata: Mapping[str, Any]
    app_metadata: Mapping[str, Any]
    enrolled_factors: tuple[str, ...] = ()
    comment: str = ""
    connected_accounts: tuple[ConnectedAccount, ...] = ()
    password: str | None = field(default=None, repr=False)  # a database user's (password grant)
    provider_accounts: tuple[ProviderAccount, ...] = ()  # offered at a connect flow's page

    @property
    def user_id(self) -> str:
        return self.identities[0].full_id


@dataclass(frozen=True)
class Seed:
    connections: tuple[Connection, ...]
    clients: tuple[Client, ...]
    users: tuple[SeedUser, ...]
    apis: tuple[Api, ...] = ()
    settings: TenantSettings = TenantSettings()

    def api(self, identifier: str) -> Api | None:
        return next((a for a in self.apis if a.identifier == identifier), None)

    def connection(self, name: str) -> Connection | None:
        return next((c for c in self.connections if c.name == name), None)

    def client(self, client_id: str) -> Client | None:
        return next((c for c in self.clients if c.client_id == client_id), None)


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
    known = {a.identifier for a in apis}
    for i, client in enumerate(clients):
        if client.resource_server_identifier not in (None, *known):
            raise SeedError(
                f"clients[{i}].resource_server_identifier: unknown API "
                f"{client.resource_server_identifier!r}"
            )
    return Seed(
        connections=connections,
        clients=clients,
        users=users,
        apis=apis,
        settings=_settings(data.get("settings", {})),
    )


def bundled_seed_data() -> dict[str, Any]:
    """The bundled seed as JSON data, for a suite that edits it before `load_seed`."""
    text = resources.files("linker.devtenant").joinpath("seed.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def default_seed(*, app_callback: str, linker_callback: str, spa_origin: str | None = None) -> Seed:
    """The bundled seed, with the sample app's and linker's callback URLs filled in, and the
    single-page sample's origin (its callback, logout URL and web origin) when it runs."""
    seed = load_seed(bundled_seed_data())
    callbacks = {
        "demo-app": (app_callback,),
        "partner-app": (app_callback,),
        "linker": (linker_callback,),
    }
    if spa_origin is not None:
        callbacks["demo-spa"] = (spa_origin.rstrip("/") + "/",)
    # Where each sample returns after /v2/logout: its home page (Allowed Logout URLs).
    app_home = urljoin(app_callback, "/")
    logout_urls = {"demo-app": (app_home,), "partner-app": (app_home,)}
    if spa_origin is not None:
        logout_urls["demo-spa"] = (spa_origin.rstrip("/") + "/",)
    clients = []
    for client in seed.clients:
        client = replace(client, callbacks=callbacks.get(client.client_id, client.callbacks))
        if client.client_id in logout_urls:
            client = replace(client, allowed_logout_urls=logout_urls[client.client_id])
        if client.client_id == "demo-spa" and spa_origin is not None:
            client = replace(client, web_origins=(spa_origin.rstrip("/"),))
        clients.append(client)
    return replace(seed, clients=tuple(clients))


def _connection(item: Any, where: str) -> Connection:
    obj = _object(item, where)
    purposes = frozenset(_strs(obj, "purposes", where) or (AUTHENTICATION,))
    if not purposes <= PURPOSES:
        raise SeedError(f"{where}.purposes: each is one of {sorted(PURPOSES)}")
    connection = Connection(
        name=_str(obj, "name", where),
        id=_str(obj, "id", where),
        strategy=_str(obj, "strategy", where),
        default_scopes=_strs(obj, "default_scopes", where),
        purposes=purposes,
    )
    if CONNECTED_ACCOUNTS in purposes and not connection.is_social:
        raise SeedError(f"{where}.purposes: a database connection has no connected accounts")
    return connection


def _client(item: Any, where: str) -> Client:
    obj = _object(item, where)
    method = _opt_str(obj, "token_endpoint_auth_method", where) or "client_secret_post"
    if method not in ("none", "client_secret_post", "client_secret_basic"):
        raise SeedError(f"{where}.token_endpoint_auth_method: unknown method {method!r}")
    app_type = _opt_str(obj, "app_type", where) or "regular_web"
    if app_type not in APP_TYPES:
        raise SeedError(f"{where}.app_type: one of {sorted(APP_TYPES)}")
    first_party = obj.get("is_first_party", True)
    if not isinstance(first_party, bool):
        raise SeedError(f"{where}.is_first_party: expected true or false")
    identifier = _opt_str(obj, "resource_server_identifier", where)
    if (identifier is None) != (app_type != "resource_server"):
        raise SeedError(
            f"{where}.resource_server_identifier: required with app_type resource_server, "
            "and only then"
        )
    return Client(
        client_id=_str(obj, "client_id", where),
        name=_str(obj, "name", where),
        # A public client has no secret; an empty one never authenticates anyone.
        client_secret="" if method == "none" else _str(obj, "client_secret", where),
        callbacks=_strs(obj, "callbacks", where),
        app_type=app_type,
        management_scopes=_strs(obj, "management_scopes", where),
        auth_method=method,
        web_origins=_strs(obj, "web_origins", where),
        allowed_logout_urls=_strs(obj, "allowed_logout_urls", where),
        rotate_refresh_tokens=_bool(obj, "rotate_refresh_tokens", where),
        is_first_party=first_party,
        resource_server_identifier=identifier,
        my_account_refresh_scopes=_strs(obj, "my_account_refresh_scopes", where),
    )


def _api(item: Any, where: str) -> Api:
    obj = _object(item, where)
    return Api(
        identifier=_str(obj, "identifier", where),
        name=_str(obj, "name", where),
        scopes=_strs(obj, "scopes", where),
    )


def _settings(item: Any) -> TenantSettings:
    obj = _object(item, "settings")
    error = _opt_str(obj, "token_vault_not_found_error", "settings") or NOT_FOUND_ERRORS[0]
    if error not in NOT_FOUND_ERRORS:
        raise SeedError(f"settings.token_vault_not_found_error: one of {list(NOT_FOUND_ERRORS)}")
    limit, window = obj.get("management_rate_limit", 50), obj.get("management_rate_window", 1)
    for name, value in (("management_rate_limit", limit), ("management_rate_window", window)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SeedError(f"settings.{name}: expected a positive integer")
    require_2fa = obj.get("my_account_require_2fa", True)
    if not isinstance(require_2fa, bool):
        raise SeedError("settings.my_account_require_2fa: expected true or false")
    return TenantSettings(
        token_vault_not_found_error=error,
        management_rate_limit=limit,
        management_rate_window=window,
        enforce_management_rate_limit=_bool(obj, "enforce_management_rate_limit", "settings"),
        default_directory=_opt_str(obj, "default_directory", "settings"),
        my_account_require_2fa=require_2fa,
    )


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
    provider_accounts = tuple(
        _provider_account(entry, f"{where}.provider_accounts[{i}]", connections)
        for i, entry in enumerate(_list(obj, "provider_accounts", where))
    )
    connected = []
    for i, entry in enumerate(_list(obj, "connected_accounts", where)):
        at = f"{where}.connected_accounts[{i}]"
        name = _str(_object(entry, at), "connection", at)
        found = connections.get(name)
        if found is None or CONNECTED_ACCOUNTS not in found.purposes:
            raise SeedError(f"{at}.connection: {name!r} has no Connected Accounts purpose")
        connected.append(
            ConnectedAccount(
                id=f"cac_{identities[0].user_id}_{name}",
                connection=name,
                scopes=frozenset((*found.default_scopes, *_strs(entry, "scopes", at))),
                created_at=0.0,
            )
        )
    return SeedUser(
        identities=identities,
        user_metadata=_metadata(obj, "user_metadata", where),
        app_metadata=_metadata(obj, "app_metadata", where),
        enrolled_factors=_strs(obj, "enrolled_factors", where),
        comment=str(obj.get("_comment", "")),
        connected_accounts=tuple(connected),
        password=_password(obj, where, identities[0]),
        provider_accounts=provider_accounts,
    )


def _provider_account(
    item: Any, where: str, connections: Mapping[str, Connection]
) -> ProviderAccount:
    obj = _object(item, where)
    name = _str(obj, "connection", where)
    found = connections.get(name)
    if found is None or CONNECTED_ACCOUNTS not in found.purposes:
        raise SeedError(f"{where}.connection: {name!r} has no Connected Accounts purpose")
    return ProviderAccount(
        connection=name,
        user_id=_str(obj, "user_id", where),
        email=_opt_str(obj, "email", where),
        name=_opt_str(obj, "name", where),
    )


def _password(obj: Mapping[str, Any], where: str, primary: Identity) -> str | None:
    password = _opt_str(obj, "password", where)
    if password is not None and primary.is_social:
        raise SeedError(f"{where}.password: only a database user has a password")
    return password


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
