"""A closed-loop load generator: complete link flows, as the browser and the Action shim make them.

Each of `--concurrency` workers runs one flow after another until `--flows` have started. A
flow is what `deploy/action/linker-action.js` and a browser do around linker:

1. the shim's start token (HS256 with the Action secret, the claims of docs/protocol.md section 3,
   Auth0's `sub`/`iss`/`iat`/`exp`/`ip` included) and `GET /link/start?session_token&state`;
2. the browser follows the 302 to the tenant's `/authorize`, where the user "signs in" as the
   flow's secondary at once (`bench_login_as`), and the tenant's 302 back to `/link/callback`,
   with the `linker_txn_*` cookie of this flow's own cookie jar;
3. the page that shows the account: the user presses Link (`POST /link/confirm`, with the
   cookie and linker's Origin), and linker answers the resume page;
4. the resume page's form for the tenant's `/continue`: the shim validates the result token
   (HS256, `state`, `sub`, `iss`, `linker_v`) and, its status being `pending`, signs the commit
   token and `POST /link/commit`s it; the flow succeeds when the answer is `linked`.

Tokens are signed with joserfc directly, as the shim signs them with Node's crypto: nothing of
linker's own token code is used. aiohttp keeps the cost per request low, so that on a small
machine the load generator is not what limits the run; it reports its own CPU time too.

The runner talks to it over stdin/stdout: one JSON line `{"ready": ...}` once the id token
hints are fetched, then a line on stdin starts the flows, and one JSON line reports them.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import re
import secrets
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from yarl import URL

from benchmarks.http import seed

HOPS = ("start", "authorize", "callback", "confirm", "commit")
PROTOCOL_VERSION = 2
START_TOKEN_LIFETIME = 300  # the shim's expiresInSeconds
COMMIT_TIMEOUT = 15.0  # the shim's COMMIT_TIMEOUT_MS
HINT_BATCH = 500
_FORM_FIELD = re.compile(r'name="(state|session_token)" value="([^"]*)"')
# The Link form of the page that shows the account: its hidden fields, in their order.
_LINK_FORM = re.compile(
    r'name="state" value="([^"]*)"><input type="hidden" name="token" value="([^"]*)">'
    r'<input type="hidden" name="choice" value="link">'
)
_FORM_ACTION = re.compile(r'<form method="post" action="([^"]*)"')
_ERROR_CODE = re.compile(r"<code>([a-z_]+)</code>")


@dataclass(frozen=True)
class Config:
    linker: str  # linker's public URL, e.g. http://127.0.0.1:8000
    tenant: str  # the tenant's base URL, e.g. http://127.0.0.1:8001
    secret: str  # the Action secret
    first: int  # the first seeded pair this run links
    flows: int
    concurrency: int
    timeout: float = 30.0

    @property
    def domain(self) -> str:
        """The tenant's host as Auth0 writes it in the start token's `iss` (no scheme)."""
        return urlsplit(self.tenant).netloc


class FlowFailed(Exception):
    """A flow ended without `linked`; the message is its reason, counted per kind."""


class FlowCookies:
    """One flow's cookie jar: what linker set, sent back to the paths under the cookie's Path."""

    def __init__(self) -> None:
        self._jar: dict[str, tuple[str, str]] = {}

    def take(self, response: aiohttp.ClientResponse) -> None:
        for header in response.headers.getall("Set-Cookie", ()):
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0":
                    self._jar.pop(name, None)  # a deleted cookie
                else:
                    self._jar[name] = (morsel.value, morsel["path"] or "/")

    def header(self, path: str) -> dict[str, str]:
        pairs = [f"{k}={v}" for k, (v, scope) in self._jar.items() if path.startswith(scope)]
        return {"Cookie": "; ".join(pairs)} if pairs else {}


@dataclass
class Tally:
    """What the flows did: successes, failures by reason, client-side time per hop."""

    linked: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    hop_ms: dict[str, list[float]] = field(default_factory=lambda: {h: [] for h in HOPS})
    requests: Counter[str] = field(default_factory=Counter)  # requests sent to linker, by step

    def hop(self, name: str, began: float) -> None:
        self.hop_ms[name].append((time.perf_counter() - began) * 1000)


def _page_reason(hop: str, status: int, body: str) -> str:
    code = _ERROR_CODE.search(body)
    return f"{hop}: HTTP {status}" + (f" {code.group(1)}" if code else "")


class Driver:
    """Runs the flows of one phase over one connection pool; each flow has its own cookies."""

    def __init__(self, config: Config, session: aiohttp.ClientSession, hints: list[str]) -> None:
        self.config = config
        self.session = session
        self.hints = hints
        self.key = OctKey.import_key(config.secret)
        self.tally = Tally()

    def start_token(self, n: int) -> str:
        """What the shim's `api.redirect.encodeToken` makes, Auth0's own claims included."""
        now = int(time.time())
        user_id = seed.primary_id(n)
        claims = {
            "sub": user_id,
            "iss": self.config.domain,
            "iat": now,
            "exp": now + START_TOKEN_LIFETIME,
            "ip": "127.0.0.1",
            "linker_v": PROTOCOL_VERSION,
            "jti": str(uuid.uuid4()),
            "action": "link",
            "client_id": seed.APP_CLIENT_ID,
            "requested_connection": seed.SECONDARY_CONNECTION,
            "id_token_hint": self.hints[n - self.config.first],
            "user": {
                "email": seed.email(n),
                "email_verified": True,
                "identities": [self._primary_identity(n)],
            },
            "authentication_methods": ["pwd"],
            "enrolled_factors": [],
            "session_id": secrets.token_urlsafe(12),
            "transaction_id": secrets.token_urlsafe(12),
        }
        return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, self.key, algorithms=["HS256"])

    @staticmethod
    def _primary_identity(n: int) -> dict[str, Any]:
        return {
            "provider": seed.PRIMARY_PROVIDER,
            "user_id": seed.primary_id(n).partition("|")[2],
            "connection": seed.PRIMARY_CONNECTION,
            "isSocial": False,
        }

    def commit_token(self, n: int, commit: str) -> str:
        """The shim's `commitToken`: the primary's profile as `event.user` has it now."""
        iat = int(time.time())
        claims = {
            "aud": "linker:commit",
            "sub": seed.primary_id(n),
            "commit": commit,
            "iat": iat,
            "exp": iat + 60,
            "jti": str(uuid.uuid4()),
            "linker_v": PROTOCOL_VERSION,
            "user": {
                "identities": [self._primary_identity(n)],
                "user_metadata": {"theme": "dark"},
                "app_metadata": {},
            },
        }
        return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, self.key, algorithms=["HS256"])

    def validate_result(self, token: str, n: int, state: str) -> dict[str, Any]:
        """The shim's `validateToken` and its own checks on the result token."""
        try:
            claims = jwt.decode(token, self.key, algorithms=["HS256"]).claims
        except (JoseError, ValueError) as exc:
            raise FlowFailed(f"result token: {type(exc).__name__}") from None
        if claims.get("state") != state or claims.get("exp", 0) < time.time():
            raise FlowFailed("result token: state or exp")
        if claims.get("sub") != seed.primary_id(n) or claims.get("iss") != self.config.linker:
            raise FlowFailed("result token: sub or iss")
        if claims.get("linker_v") != PROTOCOL_VERSION:
            raise FlowFailed("result token: linker_v")
        return claims

    async def flow(self, n: int) -> None:
        cfg, tally, cookies = self.config, self.tally, FlowCookies()
        state = secrets.token_urlsafe(16)
        query = urlencode({"session_token": self.start_token(n), "state": state})
        began = time.perf_counter()
        tally.requests["start"] += 1
        start_url = URL(f"{cfg.linker}/link/start?{query}", encoded=True)
        async with self.session.get(start_url, allow_redirects=False) as response:
            if response.status != 302:
                raise FlowFailed(_page_reason("start", response.status, await response.text()))
            cookies.take(response)
            authorize = response.headers["Location"]
        tally.hop("start", began)

        began = time.perf_counter()
        login = urlencode({seed.LOGIN_AS_PARAM: seed.secondary_id(n)})
        async with self.session.get(
            URL(f"{authorize}&{login}", encoded=True), allow_redirects=False
        ) as response:
            if response.status != 302:
                raise FlowFailed(f"authorize: HTTP {response.status}")
            callback = URL(response.headers["Location"], encoded=True)
        tally.hop("authorize", began)

        began = time.perf_counter()
        tally.requests["callback"] += 1
        headers = cookies.header(callback.path)
        async with self.session.get(callback, headers=headers, allow_redirects=False) as response:
            page = await response.text()
            if response.status != 200:
                raise FlowFailed(_page_reason("callback", response.status, page))
            cookies.take(response)
        tally.hop("callback", began)
        link = _LINK_FORM.search(page)
        if link is not None:  # the account is shown: Link
            began = time.perf_counter()
            tally.requests["confirm"] += 1
            confirm = URL(f"{cfg.linker}/link/confirm", encoded=True)
            form = {"state": html.unescape(link.group(1)), "token": html.unescape(link.group(2))}
            headers = {**cookies.header(confirm.path), "Origin": cfg.linker}
            async with self.session.post(
                confirm, data={**form, "choice": "link"}, headers=headers, allow_redirects=False
            ) as response:
                page = await response.text()
                if response.status != 200:
                    raise FlowFailed(_page_reason("confirm", response.status, page))
                cookies.take(response)
            tally.hop("confirm", began)
        action = _FORM_ACTION.search(page)
        fields = {name: html.unescape(value) for name, value in _FORM_FIELD.findall(page)}
        if action is None or html.unescape(action.group(1)) != f"{cfg.tenant}/continue":
            raise FlowFailed("callback: no form for the tenant's /continue")
        if fields.get("state") != state or "session_token" not in fields:
            raise FlowFailed("callback: the form lacks state or session_token")

        claims = self.validate_result(fields["session_token"], n, state)
        result = claims.get("result") or {}
        if result.get("status") != "pending" or not isinstance(claims.get("commit"), str):
            raise FlowFailed(f"callback: {result.get('status')} {result.get('error')}")

        began = time.perf_counter()
        tally.requests["commit"] += 1
        body = {"commit_token": self.commit_token(n, claims["commit"])}
        async with self.session.post(
            f"{cfg.linker}/link/commit",
            json=body,
            timeout=aiohttp.ClientTimeout(total=COMMIT_TIMEOUT),
        ) as response:
            if response.status != 200:
                raise FlowFailed(f"commit: HTTP {response.status}")
            answer = await response.json()
        tally.hop("commit", began)
        if answer.get("status") != "linked":
            raise FlowFailed(f"commit: {answer.get('status')} {answer.get('error')}")
        tally.linked += 1

    async def worker(self, numbers: Iterator[int]) -> None:
        for n in numbers:
            try:
                await self.flow(n)
            except FlowFailed as failed:
                self.tally.failures[str(failed)] += 1
            except TimeoutError:
                self.tally.failures["timeout"] += 1
            except aiohttp.ClientError as exc:
                self.tally.failures[f"connection: {type(exc).__name__}"] += 1

    async def run(self) -> None:
        numbers = iter(range(self.config.first, self.config.first + self.config.flows))
        workers = min(self.config.concurrency, self.config.flows)
        await asyncio.gather(*(self.worker(numbers) for _ in range(workers)))


async def fetch_hints(session: aiohttp.ClientSession, config: Config) -> list[str]:
    """The applications' ID tokens for this phase's primaries, signed by the tenant up front."""
    hints: list[str] = []
    for first in range(config.first, config.first + config.flows, HINT_BATCH):
        count = min(HINT_BATCH, config.first + config.flows - first)
        url = f"{config.tenant}/_hints?first={first}&count={count}"
        async with session.get(url) as response:
            response.raise_for_status()
            hints.extend(await response.json())
    return hints


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def summary(values: list[float]) -> dict[str, float]:
    """p50 and p99 (nearest rank) of a hop's client-side times, in ms."""
    if not values:
        return {}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {"p50": rank(0.50), "p99": rank(0.99)}


async def run(config: Config, go: asyncio.Event | None = None) -> dict[str, Any]:
    """Prepare, report ready, wait for `go` (stdin when None), run the flows, report."""
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=config.timeout)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=timeout
    ) as session:
        driver = Driver(config, session, await fetch_hints(session, config))
        print(json.dumps({"ready": config.flows}), flush=True)
        if go is None:
            await asyncio.to_thread(sys.stdin.readline)
        else:
            await go.wait()
        cpu, began = _cpu_seconds(), time.perf_counter()
        await driver.run()
        elapsed, cpu = time.perf_counter() - began, _cpu_seconds() - cpu
    tally = driver.tally
    return {
        "flows": config.flows,
        "linked": tally.linked,
        "failures": dict(tally.failures),
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "hops_ms": {hop: summary(values) for hop, values in tally.hop_ms.items()},
        "requests": dict(tally.requests),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http.loadgen")
    parser.add_argument("--linker", required=True, help="linker's public URL")
    parser.add_argument("--tenant", required=True, help="the tenant's base URL")
    parser.add_argument("--first", type=int, default=0, help="the first seeded pair to link")
    parser.add_argument("--flows", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args(argv)
    secret = os.environ["BENCH_ACTION_SECRET"]  # not on the command line, like any secret
    config = Config(args.linker, args.tenant, secret, args.first, args.flows, args.concurrency)
    print(json.dumps(asyncio.run(run(config))), flush=True)


if __name__ == "__main__":
    main()
