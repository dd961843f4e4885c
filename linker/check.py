"""`linker check`: everything that can be known about a deployment before a user tries it.

Each problem is one line that names the setting or the tenant object to fix. The tenant is
read through the same `Tenant` class the service uses, so a check that passes means the
service's own discovery, key fetch and client-credentials grant work. Reading the companion
client and its grant needs `read:clients` / `read:client_grants`; without them those two
checks are skipped with a note (on stderr) rather than guessed.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from linker.core.claims import unverified_segment
from linker.core.errors import LinkError
from linker.core.keys import NoSigningKey
from linker.environment import FILE_SUFFIX, SECRET_FILE_SETTINGS
from linker.settings import SETTING_NAMES, Settings
from linker.tenant import Tenant
from linker.tenant_http import TenantHttp, upstream_client
from linker.transport import TlsRefused, Upstream, UpstreamFailure
from linker.upstream import Retrier

NEEDED_SCOPES = ("read:users", "update:users")
PREFIX = "LINKER_"
KNOWN_NAMES = frozenset(SETTING_NAMES) | {name + FILE_SUFFIX for name in SECRET_FILE_SETTINGS}


@dataclass
class Report:
    """Problems make `linker check` fail; notes say what could not be checked."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Directly or through which proxy the tenant was reached, when any proxy is named.
    route: str | None = None


def unknown_names(env: Mapping[str, str]) -> list[str]:
    """One line per `LINKER_*` variable that no setting reads, with the closest known name."""
    lines = []
    for name in sorted(n for n in env if n.startswith(PREFIX) and n not in KNOWN_NAMES):
        # Compared without the shared prefix, which would make every name look close.
        known = sorted(known_name.removeprefix(PREFIX) for known_name in KNOWN_NAMES)
        close = difflib.get_close_matches(name.removeprefix(PREFIX), known, n=1, cutoff=0.6)
        hint = f"; did you mean {PREFIX}{close[0]}?" if close else ""
        lines.append(f"{name}: not a linker setting{hint}")
    return lines


def workers_problem(settings: Settings, workers: int) -> str | None:
    """Several worker processes must share one store: each has its own memory store, and an
    attempt started in one would be unknown to the next."""
    if workers > 1 and urlsplit(settings.store_url.reveal()).scheme == "memory":
        return (
            f"LINKER_STORE_URL: {workers} workers need a shared store (redis://host:port/db); "
            "memory:// is one process's own"
        )
    return None


def _token_scopes(token: str) -> set[str] | None:
    """The `scope` claim of our own Management API token, read without verifying: this is a
    diagnosis of what the tenant granted us, not a trust decision."""
    claims = unverified_segment(token, 1)
    scope = claims.get("scope") if claims is not None else None
    return set(scope.split()) if isinstance(scope, str) else None


async def _read(http: Upstream, url: str, token: str, **params: str) -> Any:
    """A Management API GET's JSON body, or `None` when the client may not read it."""
    query = f"?{urlencode(params)}" if params else ""
    try:
        answer = await http.request(
            "GET", url + query, headers={"Authorization": f"Bearer {token}"}
        )
    except UpstreamFailure:
        return None
    if answer.status_code != 200:
        return None
    try:
        return json.loads(answer.content)
    except ValueError:
        return None


async def _check_client(settings: Settings, http: Upstream, token: str, report: Report) -> None:
    api = f"{settings.tenant_url}/api/v2"
    client = await _read(http, f"{api}/clients/{settings.client_id}", token)
    if isinstance(client, dict):
        callbacks = client.get("callbacks") or []
        if settings.callback_url not in callbacks:
            report.problems.append(
                f"LINKER_PUBLIC_URL: {settings.callback_url} is not an allowed callback URL of "
                f"client {settings.client_id}; add it to the application's Allowed Callback URLs"
            )
    else:
        report.notes.append(
            "note: the companion client could not be read (read:clients); its callback URLs "
            "were not checked"
        )
    grants = await _read(
        http,
        f"{api}/client-grants",
        token,
        client_id=settings.client_id,
        audience=f"{api}/",
    )
    granted: set[str] | None = None
    if isinstance(grants, list):
        granted = {
            scope
            for grant in grants
            if isinstance(grant, dict) and isinstance(grant.get("scope"), list)
            for scope in grant["scope"]
        }
    else:
        granted = _token_scopes(token)
    if granted is None:
        report.notes.append(
            "note: the client grant could not be read (read:client_grants); its scopes were "
            "not checked"
        )
        return
    missing = [scope for scope in NEEDED_SCOPES if scope not in granted]
    if missing:
        report.problems.append(
            f"LINKER_CLIENT_ID: client {settings.client_id}'s grant on the Management API lacks "
            f"{' and '.join(missing)}"
        )


async def _tls_problem(settings: Settings, http: Upstream) -> str | None:
    """One line when the tenant's certificate is refused: retries cannot fix that, trust can."""
    url = f"{settings.tenant_url}/.well-known/openid-configuration"
    try:
        await http.request("GET", url, limit=min(settings.upstream_budget, 5.0))
    except TlsRefused as refused:
        return (
            f"LINKER_AUTH0_DOMAIN: {refused}; if a proxy inspects TLS, trust its CA with "
            "LINKER_CA_FILE"
        )
    except UpstreamFailure:
        pass  # reported below, after the service's own retries
    return None


async def check_tenant(settings: Settings, *, http: Upstream | None = None) -> Report:
    """Discovery, signing keys, client credentials, and the companion client's grant and
    callback URL, each through the service's own `Tenant` and HTTP client."""
    report = Report()
    async with contextlib.AsyncExitStack() as stack:
        client = (
            http if http is not None else await stack.enter_async_context(upstream_client(settings))
        )
        if isinstance(client, TenantHttp) and client.proxies_named():
            report.route = client.route(settings.tenant_url).describe()
        tls = await _tls_problem(settings, client)
        if tls is not None:
            report.problems.append(tls)
            return report
        tenant = Tenant(settings, client, Retrier(clock=time.time), clock=time.time)
        try:
            await tenant.discovery()
        except LinkError as error:
            report.problems.append(
                f"LINKER_AUTH0_DOMAIN: no OpenID configuration at {settings.tenant_url} "
                f"({error.description})"
            )
            return report
        try:
            await tenant.keys.keys_for(None)
        except NoSigningKey:
            report.problems.append("tenant: the key set has no RS256 signing key")
        except LinkError as error:
            report.problems.append(f"tenant: signing keys could not be read ({error.description})")
        try:
            token = await tenant.management_token(tenant.budget())
        except LinkError as error:
            report.problems.append(
                "LINKER_CLIENT_ID / LINKER_CLIENT_SECRET: client credentials for the Management "
                f"API were refused ({error.description})"
            )
            return report
        await _check_client(settings, client, token, report)
    return report
