"""Settings, read once at start from the environment (and a `.env` file).

Every problem names its setting; secrets are wrapped so that `repr`, logs and error messages
never show them.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from linker.core.events import DEFAULT_SCHEDULE, parse_schedule
from linker.core.merge import MERGE_MODES, MergeMode
from linker.core.secret import Secret
from linker.environment import read_dotenv, resolve_secret_files
from linker.state.store import cluster_nodes, sentinel_target

MIN_SECRET_BYTES = 32


class SettingsError(ValueError):
    """A bad setting: the message names the setting and what is wrong with it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


@dataclass(frozen=True)
class Settings:
    """The service's configuration; see the settings table in the README."""

    auth0_domain: str
    client_id: str
    client_secret: Secret
    action_secrets: tuple[Secret, ...]
    public_url: str
    tenant_scheme: Literal["http", "https"] = "https"
    store_url: Secret = field(default_factory=lambda: Secret("memory://"))
    # Required from the environment; `*` is every application (`ALL`). Empty allows none.
    allowed_client_ids: frozenset[str] = frozenset()
    hint_max_age: int = 600
    txn_ttl: int = 600
    upstream_budget: float = 10.0
    require_verified_email: bool = False
    enforce_mfa: bool = False
    pin_ip: bool = False
    require_same_email: bool = False
    require_verified_secondary_email: bool = True
    metadata_merge: MergeMode = "primary-wins"
    merge_app_metadata: bool = False
    max_pending_per_user: int = 5
    max_in_flight: int = 256
    audit_file: Path | None = None
    trusted_proxies: frozenset[str] = frozenset()
    confirm_link: bool = True
    proxy_url: Secret | None = None  # the egress proxy (tenant, events); may carry credentials
    ca_file: Path | None = None  # CAs trusted (tenant, events), beside the system's
    redis_ca_file: Path | None = None
    start_limit_per_address: tuple[int, float] | None = None
    start_limit_per_client: tuple[int, float] | None = None
    events_url: str | None = None
    events_secret: Secret | None = None
    events_schedule: tuple[float, ...] = DEFAULT_SCHEDULE

    @property
    def tenant_url(self) -> str:
        """Base URL of the tenant, without a trailing slash."""
        return f"{self.tenant_scheme}://{self.auth0_domain}"

    @property
    def issuer(self) -> str:
        """The `iss` of tokens the tenant signs (Auth0 ends it with a slash)."""
        return f"{self.tenant_url}/"

    @property
    def callback_url(self) -> str:
        return f"{self.public_url}/link/callback"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def all_clients_allowed(self) -> bool:
        return ALL in self.allowed_client_ids

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Build settings from `LINKER_*` variables; raise `SettingsError` on the first bad one."""
        values, problems = _read(env)
        problems += _events_pair(values)
        if problems:
            raise problems[0]
        return cls(**values)

    @staticmethod
    def problems(env: Mapping[str, str]) -> list[SettingsError]:
        """Every bad setting in `env`, in table order (for `linker check`)."""
        values, problems = _read(env)
        return problems + _events_pair(values)

    @staticmethod
    def environment(dotenv: Path = Path(".env")) -> dict[str, str]:
        """The process environment over a `.env` file (the environment wins)."""
        env = read_dotenv(dotenv)
        env.update(os.environ)
        return env


_REQUIRED = object()
# Why a required setting has no default, where "is required" does not say it.
_REQUIRED_WHY = {
    "LINKER_ALLOWED_CLIENT_IDS": "is required: the applications that may ask for linking, as "
    "comma-separated client ids, or * for every application of the tenant (dynamically "
    "registered and third-party ones included)",
}
# In LINKER_ALLOWED_CLIENT_IDS and LINKER_TRUSTED_PROXIES: every one.
ALL = "*"


def _read(env: Mapping[str, str]) -> tuple[dict[str, Any], list[SettingsError]]:
    values: dict[str, Any] = {}
    env, file_problems = resolve_secret_files(env)
    problems = [SettingsError(name, problem) for name, problem in file_problems]
    for name, field_name, parse, default in _TABLE:
        raw = env.get(name, "").strip()
        if not raw:
            if default is _REQUIRED:
                problems.append(SettingsError(name, _REQUIRED_WHY.get(name, "is required")))
            else:
                values[field_name] = default
            continue
        try:
            values[field_name] = parse(raw)
        except ValueError as exc:
            # The parsers never put the raw value in their message, so secrets stay out.
            problems.append(SettingsError(name, str(exc)))
    problems += _unsafe_together(values)
    return values, problems


def is_loopback(host: str) -> bool:
    """`localhost`, a name under `.localhost` (RFC 6761), or a loopback address."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _unsafe_together(values: Mapping[str, Any]) -> list[SettingsError]:
    """Settings fine one by one and unsafe together."""
    problems = []
    domain = values.get("auth0_domain")
    if (
        values.get("tenant_scheme") == "http"
        and domain
        and not is_loopback(urlsplit(f"//{domain}").hostname or "")
    ):
        problems.append(
            SettingsError(
                "LINKER_TENANT_SCHEME",
                "http is only for a tenant on this machine (localhost, 127.0.0.1, ::1); "
                "a real tenant is https",
            )
        )
    if values.get("pin_ip") and ALL in values.get("trusted_proxies", ()):
        problems.append(
            SettingsError(
                "LINKER_TRUSTED_PROXIES",
                "* believes X-Forwarded-For from anyone, so LINKER_PIN_IP would compare an "
                "address the client chose; name the proxies' addresses or ranges",
            )
        )
    return problems


def _non_empty(raw: str) -> str:
    return raw


def _domain(raw: str) -> str:
    if "://" in raw or "/" in raw:
        raise ValueError("give the bare domain (example.eu.auth0.com), without scheme or path")
    host, _, port = raw.partition(":")
    if not host or (port and not _port_number(port)):
        raise ValueError("expected a domain, optionally with :port (1 to 65535)")
    return raw.lower()


def _port_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) <= 65535


def _scheme(raw: str) -> Literal["http", "https"]:
    if raw == "https":
        return "https"
    if raw == "http":
        return "http"
    raise ValueError("must be https (or http for a local dev tenant)")


def _public_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http(s) URL such as https://linker.example.com")
    if parts.query or parts.fragment:
        raise ValueError("must not carry a query or fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
        # Cookies, codes and tokens would cross the network in the clear.
        raise ValueError("http is only for this machine (localhost, 127.0.0.1, ::1); use https")
    return raw.rstrip("/")


def _action_secrets(raw: str) -> tuple[Secret, ...]:
    secrets = [s.strip() for s in raw.split(",")]
    if any(not s for s in secrets):
        raise ValueError("has an empty entry; separate secrets with single commas")
    for index, secret in enumerate(secrets, start=1):
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"secret #{index} is shorter than {MIN_SECRET_BYTES} bytes")
    return tuple(Secret(s) for s in secrets)


_STORE_SCHEMES = (
    *("memory", "redis", "rediss", "redis+cluster", "rediss+cluster"),
    *("redis+sentinel", "rediss+sentinel"),
)


def _store_url(raw: str) -> str:
    scheme = raw.partition("://")[0] if "://" in raw else ""
    if scheme not in _STORE_SCHEMES:
        raise ValueError(
            "must be memory://, redis://host:port/db (rediss:// for TLS), "
            "redis+cluster://host:port[,host:port...] (rediss+cluster:// for TLS) or "
            "redis+sentinel://host:port[,host:port...]/primary-name[/db] (rediss+sentinel://)"
        )
    # What follows the host may not hold an `@`: a password with a `/`, `?` or `#` in it
    # (base64 has `/`) ends the host early, and the rest would be taken for a path.
    _, _, after_scheme = raw.partition("://")
    authority_end = min((i for i in map(after_scheme.find, "/?#") if i >= 0), default=None)
    if authority_end is not None and "@" in after_scheme[authority_end:]:
        raise ValueError(
            "its user name or password holds a '/', '?' or '#': percent-encode them "
            "(%2F, %3F, %23), or give the URL in LINKER_STORE_URL_FILE the same way"
        )
    if scheme.endswith("+cluster"):
        cluster_nodes(raw)
    elif scheme.endswith("+sentinel"):
        sentinel_target(raw)
    elif scheme != "memory":
        try:
            urlsplit(raw).port  # noqa: B018 (read to check it)
        except ValueError:
            raise ValueError("its port is not a number from 1 to 65535") from None
    return raw


def _csv_set(raw: str) -> frozenset[str]:
    return frozenset(item.strip() for item in raw.split(",") if item.strip())


def _client_ids(raw: str) -> frozenset[str]:
    ids = _csv_set(raw)
    if not ids:
        raise ValueError("lists no client id")
    if ALL in ids and len(ids) > 1:
        raise ValueError("* allows every application: give it alone, or list client ids")
    return ids


# No time linker keeps or waits for runs longer than this; a store refuses a TTL past it.
MAX_SECONDS = 366 * 24 * 3600


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("must be a whole number of seconds") from None
    if value <= 0:
        raise ValueError("must be greater than zero")
    if value > MAX_SECONDS:
        raise ValueError(f"must be at most {MAX_SECONDS} seconds (a year)")
    return value


def _positive_count(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not value > 0:
        raise ValueError("must be greater than zero")
    if not value <= MAX_SECONDS:  # infinity and NaN too
        raise ValueError(f"must be at most {MAX_SECONDS} seconds (a year)")
    return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("must be true or false")


def _merge_mode(raw: str) -> MergeMode:
    for mode in MERGE_MODES:
        if raw == mode:
            return mode
    raise ValueError("must be one of none, primary-wins, secondary-wins")


def _proxies(raw: str) -> frozenset[str]:
    # Proxy addresses are not secret, so the message may quote the bad entry.
    entries = _csv_set(raw)
    for entry in sorted(entries):
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address, a CIDR range or *") from None
    return entries


def _path(raw: str) -> Path:
    return Path(raw)


def _start_limit(raw: str) -> tuple[int, float]:
    count, slash, seconds = raw.partition("/")
    try:
        limit = (int(count), float(seconds))
    except ValueError:
        raise ValueError("must be COUNT/SECONDS, such as 30/60 (30 starts a minute)") from None
    if not slash or limit[0] <= 0 or not 0 < limit[1] <= MAX_SECONDS:
        raise ValueError(
            f"must be COUNT/SECONDS, both greater than zero (SECONDS at most {MAX_SECONDS}), "
            "such as 30/60"
        )
    return limit


def _readable_file(raw: str) -> Path:
    path = Path(raw)
    if not path.is_file():
        raise ValueError(f"{raw} is not a readable file")
    return path


def _secret(raw: str) -> Secret:
    return Secret(raw)


def _store_secret(raw: str) -> Secret:
    return Secret(_store_url(raw))


def _proxy_url(raw: str) -> Secret:
    # May carry credentials (http://user:secret@proxy:3128): the message never quotes it.
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValueError("must be a URL such as http://proxy.example:3128") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be a URL such as http://proxy.example:3128")
    if parts.path not in ("", "/") or parts.query or parts.fragment or port == 0:
        raise ValueError("must be the proxy's address only, such as http://proxy.example:3128")
    return Secret(raw)


def _ca_file(raw: str) -> Path:
    # Loaded here so that a missing or unreadable bundle stops the start, not the first call.
    try:
        ssl.create_default_context().load_verify_locations(cafile=raw)
    except FileNotFoundError:
        raise ValueError(f"no file at {raw}") from None
    except (OSError, ssl.SSLError):
        raise ValueError(f"{raw} is not a readable PEM file of CA certificates") from None
    return Path(raw)


def _events_url(raw: str) -> str:
    # Events carry user ids: over TLS, except to an application on this very machine.
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute https URL such as https://app.example.com/hooks")
    if parts.username or parts.password or parts.fragment:
        raise ValueError("must not carry credentials or a fragment; the secret signs deliveries")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError("must be https (plain http only to a loopback address, for development)")
    return raw


MIN_EVENTS_SECRET_BYTES = 24


def _events_secret(raw: str) -> Secret:
    if not raw.startswith("whsec_"):
        raise ValueError("must be a Standard Webhooks secret: whsec_ and base64")
    try:
        key = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
    except ValueError:
        raise ValueError("is not base64 after whsec_") from None
    if len(key) < MIN_EVENTS_SECRET_BYTES:
        raise ValueError(f"must hold at least {MIN_EVENTS_SECRET_BYTES} random bytes")
    return Secret(raw)


def _events_pair(values: Mapping[str, Any]) -> list[SettingsError]:
    """LINKER_EVENTS_URL and LINKER_EVENTS_SECRET come together, or not at all."""
    if values.get("events_url") and values.get("events_secret") is None:
        return [SettingsError("LINKER_EVENTS_SECRET", "is required with LINKER_EVENTS_URL")]
    if values.get("events_secret") is not None and not values.get("events_url"):
        return [SettingsError("LINKER_EVENTS_URL", "is required with LINKER_EVENTS_SECRET")]
    return []


_TABLE: tuple[tuple[str, str, Callable[[str], Any], Any], ...] = (
    ("LINKER_AUTH0_DOMAIN", "auth0_domain", _domain, _REQUIRED),
    ("LINKER_TENANT_SCHEME", "tenant_scheme", _scheme, "https"),
    ("LINKER_CLIENT_ID", "client_id", _non_empty, _REQUIRED),
    ("LINKER_CLIENT_SECRET", "client_secret", _secret, _REQUIRED),
    ("LINKER_ACTION_SECRETS", "action_secrets", _action_secrets, _REQUIRED),
    ("LINKER_PUBLIC_URL", "public_url", _public_url, _REQUIRED),
    ("LINKER_STORE_URL", "store_url", _store_secret, Secret("memory://")),
    ("LINKER_ALLOWED_CLIENT_IDS", "allowed_client_ids", _client_ids, _REQUIRED),
    ("LINKER_HINT_MAX_AGE", "hint_max_age", _positive_int, 600),
    ("LINKER_TXN_TTL", "txn_ttl", _positive_int, 600),
    ("LINKER_UPSTREAM_BUDGET", "upstream_budget", _positive_float, 10.0),
    ("LINKER_REQUIRE_VERIFIED_EMAIL", "require_verified_email", _bool, False),
    ("LINKER_ENFORCE_MFA", "enforce_mfa", _bool, False),
    ("LINKER_PIN_IP", "pin_ip", _bool, False),
    ("LINKER_REQUIRE_SAME_EMAIL", "require_same_email", _bool, False),
    ("LINKER_REQUIRE_VERIFIED_SECONDARY_EMAIL", "require_verified_secondary_email", _bool, True),
    ("LINKER_METADATA_MERGE", "metadata_merge", _merge_mode, "primary-wins"),
    ("LINKER_MERGE_APP_METADATA", "merge_app_metadata", _bool, False),
    ("LINKER_MAX_PENDING_PER_USER", "max_pending_per_user", _positive_count, 5),
    ("LINKER_MAX_IN_FLIGHT", "max_in_flight", _positive_count, 256),
    ("LINKER_AUDIT_FILE", "audit_file", _path, None),
    ("LINKER_TRUSTED_PROXIES", "trusted_proxies", _proxies, frozenset()),
    ("LINKER_CONFIRM_LINK", "confirm_link", _bool, True),
    ("LINKER_PROXY_URL", "proxy_url", _proxy_url, None),
    ("LINKER_CA_FILE", "ca_file", _ca_file, None),
    ("LINKER_REDIS_CA_FILE", "redis_ca_file", _readable_file, None),
    ("LINKER_START_LIMIT_PER_ADDRESS", "start_limit_per_address", _start_limit, None),
    ("LINKER_START_LIMIT_PER_CLIENT", "start_limit_per_client", _start_limit, None),
    ("LINKER_EVENTS_URL", "events_url", _events_url, None),
    ("LINKER_EVENTS_SECRET", "events_secret", _events_secret, None),
    ("LINKER_EVENTS_SCHEDULE", "events_schedule", parse_schedule, DEFAULT_SCHEDULE),
)

# Every setting's name, in table order (for `linker check`'s look-out for misspellings).
SETTING_NAMES: tuple[str, ...] = tuple(row[0] for row in _TABLE)
