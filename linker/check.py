"""`linker check`: everything that can be known about a deployment before a user tries it.

Each problem is one line, for the operator, that names the setting or the tenant object to
fix. The store is written to and runs one of the service's scripts, as every link step does.
The tenant is first reached with one bare connection, so a refused or unreachable address, or
a scheme that does not match the server (https to a plain-HTTP dev tenant, or the reverse),
is named at once instead of after the service's retries. Then the tenant is read through the
same `Tenant` class the service uses, so a check that passes means the service's own
discovery, key fetch and client-credentials grant work. Reading the companion client and its
grant needs `read:clients` / `read:client_grants`; without them those two checks are skipped
with a note (on stderr) rather than guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import secrets
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from linker.core.claims import json_object, unverified_segment
from linker.core.errors import Code, LinkError
from linker.core.keys import NoSigningKey
from linker.environment import FILE_SUFFIX, SECRET_FILE_SETTINGS
from linker.settings import ALL, SETTING_NAMES, Settings
from linker.state.store import Store, StoreUnavailable, open_store
from linker.state.store_diagnosis import why_unusable
from linker.tenant.http import TenantHttp, upstream_client
from linker.tenant.oauth import Tenant
from linker.tenant.transport import TlsRefused, Upstream, UpstreamFailure
from linker.tenant.upstream import Retrier

NEEDED_SCOPES = ("read:users", "update:users")
PREFIX = "LINKER_"
KNOWN_NAMES = frozenset(SETTING_NAMES) | {name + FILE_SUFFIX for name in SECRET_FILE_SETTINGS}
# The bare connection to the tenant: a refused one fails at once, a silent one after this.
CONNECT_SECONDS = 2.0
_PROBE_ANSWER_BYTES = 16_384


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


def unsafe_settings(settings: Settings) -> list[str]:
    """Settings that work and are unsafe: one warning each (the service still starts)."""
    lines = []
    if settings.all_clients_allowed:
        lines.append(
            "warning: LINKER_ALLOWED_CLIENT_IDS is *: every application of the tenant may ask "
            "for linking, third-party and dynamically registered ones included; list the "
            "client ids of your own applications"
        )
    if ALL in settings.trusted_proxies:
        lines.append(
            "warning: LINKER_TRUSTED_PROXIES is *: X-Forwarded-For is believed from anyone, so "
            "the client addresses logged and audited can be forged; name your proxies"
        )
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
        proxied = isinstance(client, TenantHttp) and client.proxies_named()
        if proxied:
            assert isinstance(client, TenantHttp)
            report.route = client.route(settings.tenant_url).describe()
        if http is None and not proxied:
            # A bare connection first: a refused address or the other scheme is named at once
            # (through a proxy, only the proxy's answers can tell).
            unreachable = await probe_tenant(settings)
            if unreachable is not None:
                report.problems.append(unreachable)
                return report
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
                f"({_for_operator(error, settings)})"
            )
            return report
        try:
            await tenant.keys.keys_for(None)
        except NoSigningKey:
            report.problems.append("tenant: the key set has no RS256 signing key")
        except LinkError as error:
            report.problems.append(
                f"tenant: signing keys could not be read ({_for_operator(error, settings)})"
            )
        try:
            token = await tenant.management_token(tenant.budget())
        except LinkError as error:
            report.problems.append(await _token_refusal(tenant, settings, error))
            return report
        await _check_client(settings, client, token, report)
    return report


def _for_operator(error: LinkError, settings: Settings) -> str:
    """A tenant error in an operator's words: the service's own text is written for users."""
    if error.description.startswith("Misconfigured: "):
        return error.description.removeprefix("Misconfigured: ").rstrip(".")
    if error.code is Code.UPSTREAM_UNAVAILABLE:
        return (
            f"no usable answer within LINKER_UPSTREAM_BUDGET ({settings.upstream_budget:g} s), "
            "retries included"
        )
    return error.description


# -- the tenant's client-credentials grant: bad credentials or a missing grant ---------------


async def _token_refusal(tenant: Tenant, settings: Settings, error: LinkError) -> str:
    """Why the client-credentials grant failed, asked once more to see the tenant's answer:
    401 (Auth0 says `access_denied` "Unauthorized"; others `invalid_client`) is the client's
    id or secret, 403 is the client's grant on the Management API."""
    form = {"grant_type": "client_credentials", "audience": f"{settings.tenant_url}/api/v2/"}
    try:
        # The service's own token request (its client authentication included), sent once.
        answer = await tenant._post_token(form, tenant.budget(), once=True)
    except LinkError:
        answer = None
    if answer is None or answer.status_code == 200:
        return (
            f"tenant: no Management API token for client {settings.client_id} "
            f"({_for_operator(error, settings)})"
        )
    body = json_object(answer.content)
    said = _shown(str(body.get("error_description") or body.get("error") or ""))
    detail = _shown(f"HTTP {answer.status_code} {body.get('error', '')}".rstrip())
    if answer.status_code == 401 or body.get("error") == "invalid_client":
        return (
            f"LINKER_CLIENT_ID / LINKER_CLIENT_SECRET: the tenant refused client "
            f"{settings.client_id}'s credentials ({detail}); copy the client id and secret "
            "from the application's settings"
        )
    if answer.status_code == 403:
        return (
            f"LINKER_CLIENT_ID: client {settings.client_id} may not use the Management API "
            f"({detail}: {said}); authorize it for the Auth0 Management API with "
            f"{' and '.join(NEEDED_SCOPES)}"
        )
    return f"tenant: the token endpoint refused client {settings.client_id} ({detail}: {said})"


def _shown(text: str) -> str:
    """The tenant's words on an operator's terminal: printable ASCII only (no escape sequence
    reaches it), 200 characters at most."""
    return "".join(c if " " <= c <= "~" else " " for c in text[:200])


# -- the bare connection to the tenant: address and scheme ----------------------------------


async def probe_tenant(settings: Settings, *, wait: float = CONNECT_SECONDS) -> str | None:
    """One line when the tenant's address cannot be reached or speaks the other scheme, else
    `None`. A direct connection, as the service makes; no certificate is judged here (the
    service's own client does that in the steps that follow)."""
    split = urlsplit(settings.tenant_url)
    host = split.hostname or settings.auth0_domain
    port = split.port or (443 if split.scheme == "https" else 80)
    address = f"{host}:{port}"
    https = split.scheme == "https"
    try:
        answer = await _first_answer(host, port, tls=https, wait=wait)
    except TimeoutError:
        return (
            f"LINKER_AUTH0_DOMAIN: no connection to {address} within {wait:g} s; check the "
            "address, and any firewall between this host and the tenant"
        )
    except socket.gaierror:
        return f"LINKER_AUTH0_DOMAIN: {host} cannot be resolved (DNS); check its spelling"
    except ConnectionRefusedError:
        return (
            f"LINKER_AUTH0_DOMAIN: {address} refused the connection: nothing listens there "
            "(is the tenant running, and is the port right?)"
        )
    except ssl.SSLError as exc:
        if await _speaks_plain_http(host, port, wait=wait):
            return (
                f"LINKER_TENANT_SCHEME: {address} answers plain HTTP, not https; for a local "
                "dev tenant set LINKER_TENANT_SCHEME=http"
            )
        return f"LINKER_AUTH0_DOMAIN: the TLS handshake with {address} failed ({exc.reason})"
    except OSError as exc:
        return f"LINKER_AUTH0_DOMAIN: cannot connect to {address} ({exc.strerror or exc})"
    if not https and not answer.startswith(b"HTTP/"):
        return (
            f"LINKER_TENANT_SCHEME: {address} does not answer plain HTTP (it expects TLS?); "
            "leave LINKER_TENANT_SCHEME unset for https"
        )
    if not https and b"HTTPS port" in answer:  # nginx's 400 to plain HTTP on a TLS port
        return f"LINKER_TENANT_SCHEME: {address} expects https; leave LINKER_TENANT_SCHEME unset"
    return None


def _unverified_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _first_answer(host: str, port: int, *, tls: bool, wait: float) -> bytes:
    """Connect (with a TLS handshake for https), ask for the OpenID configuration, and return
    the first bytes of the answer (empty when the server closed without one)."""
    async with asyncio.timeout(wait):
        reader, writer = await asyncio.open_connection(
            host, port, ssl=_unverified_tls() if tls else None
        )
    try:
        writer.write(
            b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: "
            + host.encode("idna")
            + b"\r\nConnection: close\r\n\r\n"
        )
        try:
            async with asyncio.timeout(wait):
                return await reader.read(_PROBE_ANSWER_BYTES)
        except (TimeoutError, OSError):
            return b""
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def _speaks_plain_http(host: str, port: int, *, wait: float) -> bool:
    try:
        return (await _first_answer(host, port, tls=False, wait=wait)).startswith(b"HTTP/")
    except (TimeoutError, OSError):
        return False


# -- the store ----------------------------------------------------------------------------------


def store_address(url: str) -> str:
    """The store URL without its password (nor user name), for a line an operator reads."""
    split = urlsplit(url)
    return f"{split.scheme}://{split.netloc.rpartition('@')[2]}{split.path}"


async def check_store(settings: Settings, *, store: Store | None = None) -> list[str]:
    """One line when the shared store cannot be written or will not run a script, which every
    link step needs (`linker serve` answers /readyz 503 then). The memory store is one
    process's own and always there."""
    url = settings.store_url.reveal()
    if urlsplit(url).scheme == "memory" and store is None:
        return []
    where = store_address(url)
    ca_file = str(settings.redis_ca_file) if settings.redis_ca_file else None
    opened = store if store is not None else open_store(url, ca_file=ca_file)
    # Both keys in one hash slot (their tag), as a cluster runs a script on one node.
    key = f"check:{{{secrets.token_urlsafe(9)}}}"
    step = "could not be reached"
    try:
        step = "refused a write"
        await opened.put(key, "1", 10.0)
        step = "refused to run a script (linker needs Lua scripting: EVAL/EVALSHA)"
        await opened.claim(key, key + ":claimed", "1", 10.0)
        await opened.delete(key + ":claimed")
    except StoreUnavailable as exc:
        said = f"{step} ({exc})"
        if str(exc) == "ReadOnlyError":
            said = f"is a read-only replica ({exc})"
        elif store is None and (why := await why_unusable(url, ca_file)) is not None:
            # A connection that failed: the cause, asked of the node itself.
            said = f"cannot be used: {why}"
        elif str(exc) in ("ConnectionError", "TimeoutError", "BusyLoadingError"):
            said = f"did not answer ({exc})"
        elif str(exc) in ("AuthenticationError", "AuthenticationWrongNumberOfArgsError"):
            said = f"refused the password ({exc})"
        return [
            f"LINKER_STORE_URL: the store at {where} {said}; linker serve would answer /readyz 503"
        ]
    finally:
        if store is None:
            with contextlib.suppress(Exception):
                await opened.aclose()
    return []
