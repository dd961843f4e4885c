"""Complete link flows with faults outside the tenant, as an operator's worse days bring them,
and a check of the tenant's final state against every result the flows were given.

Two replicas share one store; one runs 90 s ahead of it. Each flow's steps land on either
replica. On top of the tenant's own faults (`soak.FaultyTenant`, lost answers and crashes
included) come: an audit file that is missing, full from the start, or that fills as the link
is sent; the store losing its pending work after a commit; the key set answering garbage for
a while, and a key rotation in the middle of the run. After the flows: the audit lines kept in
the store reach the file, pending work is reconciled, and the audit file is replayed (as
`linker reconcile --audit-file` does for a store that lost its work). Then every `linked` must
be linked with its merge applied, nothing may be half-done, no flow may be denied, no answer
may be a 5xx other than a deliberate 503, and nothing may be left pending.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from joserfc.jwk import RSAKey
from starlette.applications import Starlette

from linker.app import create_app
from linker.runtime import Runtime
from linker.state.store import MemoryStore
from linker.state.work import PREFIX as WORK_PREFIX
from linker.steps.reconcile import SETTLE_AFTER, replay, snapshots_to_replay
from linker.tenant.upstream import Retrier
from linker.testing import FakeClock
from tests.reliability.soak import Crash, FaultyTenant, Flow, SoakReport, _judge
from tests.support.fake_tenant import FakeTenant
from tests.support.harness import (
    commit_claims,
    confirm_fields,
    hs256,
    is_confirm_page,
    make_settings,
    nested_state,
    read_resume,
    start_claims,
)
from tests.support.httpx_upstream import HttpxUpstream

DISK_MODES = ("ok", "ok", "missing", "full", "fills")
SKEW = 90.0
FULL = Path("/dev/full")  # opens, and refuses every write (ENOSPC)


class SkewedClock:
    """A replica's clock, `skew` seconds off the true one."""

    def __init__(self, base: FakeClock, skew: float) -> None:
        self.base, self.skew = base, skew

    def __call__(self) -> float:
        return self.base() + self.skew

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)


@dataclass
class OutsideFaults(FaultyTenant):
    """The tenant's faults, garbage from the key set while `keys_bad_until` lasts, and the
    audit file filling up as a link is sent when `fill_on_link` is set."""

    clock: FakeClock = field(default_factory=FakeClock)
    keys_bad_until: float = 0.0
    fill_on_link: list[Runtime] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        route = self.tenant.route(request)
        if self.on and route == "GET /.well-known/jwks.json" and self.clock() < self.keys_bad_until:
            self.injected["keys_garbage"] += 1
            return httpx.Response(200, text="<html>bad gateway</html>")
        if route == "POST identities" and self.fill_on_link:
            for runtime in self.fill_on_link:
                runtime.audit.path = FULL
            self.fill_on_link = []
        return super().handle(request)


@dataclass
class OutsideReport(SoakReport):
    server_errors: int = 0
    left_pending: int = 0
    outside: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        return [
            *super().lines(),
            "outside faults: " + ", ".join(f"{k} {v}" for k, v in sorted(self.outside.items())),
            f"5xx answers (a deliberate 503 aside): {self.server_errors}",
            f"left pending after reconcile and replay: {self.left_pending}",
        ]


async def outside_soak(
    *, flows: int, audit_dir: Path, rate: float = 0.1, crash_rate: float = 0.02, seed: int = 11
) -> OutsideReport:
    rng = random.Random(seed)
    clock = FakeClock()
    old_key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
    new_key = RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig"})
    tenant = FakeTenant(key=old_key, clock=clock)
    faulty = OutsideFaults(tenant, random.Random(seed), rate, crash_rate, clock=clock)
    store = MemoryStore(clock=clock)  # the store's clock is the true one
    settings = make_settings()
    good = audit_dir / "audit.jsonl"
    upstream = httpx.AsyncClient(transport=httpx.MockTransport(faulty.handle))
    apps = [
        create_app(
            settings,
            http=HttpxUpstream(upstream),
            store=store,
            clock=replica_clock,
            retrier=Retrier(clock=replica_clock, sleep=clock.sleep, rng=random.Random(seed)),
        )
        for replica_clock in (clock, SkewedClock(clock, SKEW))
    ]
    runtimes: list[Runtime] = [app.state.runtime for app in apps]
    plan = [_flow(tenant, i) for i in range(flows)]
    outside: Counter[str] = Counter()
    server_errors = 0
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        for i, flow in enumerate(plan):
            clock.now += 2  # time passes between flows
            if i == flows // 3:
                tenant.extra_keys.append(tenant.key)  # rotated: the new key signs from now
                tenant.key = new_key
                outside["key_rotation"] += 1
            if rng.random() < 0.03:
                faulty.keys_bad_until = clock() + 20
                outside["keys_garbage_window"] += 1
            disk = rng.choice(DISK_MODES)
            outside[f"audit_{disk}"] += 1
            for runtime in runtimes:
                runtime.audit.path = {
                    "ok": good,
                    "fills": good,
                    "missing": audit_dir / "gone" / "audit.jsonl",
                    "full": FULL,
                }[disk]
            faulty.fill_on_link = list(runtimes) if disk == "fills" else []
            server_errors += await _run(apps, rng, tenant, clock, flow)
            faulty.fill_on_link = []
            if flow.status in ("failed", "crashed") and rng.random() < 0.5:
                # The store loses its pending work (say, Redis restarted without persistence).
                for key in await store.scan(WORK_PREFIX):
                    await store.delete(key)
                    outside["store_lost_work"] += 1
        faulty.on = False
        for runtime in runtimes:
            runtime.audit.path = good
        clock.now += SETTLE_AFTER + 1
        for runtime in runtimes:
            await runtime.audit.flush()
            await runtime.store_clock.offset(max_age=0.0)
        for app in apps:
            await app.state.reconcile()
        replayed = await replay(runtimes[0], snapshots_to_replay(good.read_text().splitlines()))
        left = replayed.pending + len(await store.scan(WORK_PREFIX))
    await upstream.aclose()
    base = _judge(plan, tenant, faulty.injected)
    return OutsideReport(
        **base.__dict__, server_errors=server_errors, left_pending=left, outside=outside
    )


def _flow(tenant: FakeTenant, i: int) -> Flow:
    flow = Flow(
        primary=f"google-oauth2|u{i}",
        secondary=f"github|{i}",
        primary_meta={"theme": "dark", "n": i, "prefs": {"lang": "en"}},
        secondary_meta={"theme": "light", "gh": i, "prefs": {"tz": "UTC"}},
    )
    for user, meta in ((flow.primary, flow.primary_meta), (flow.secondary, flow.secondary_meta)):
        tenant.add_user(user, email=f"u{i}@example.com", user_metadata=json.loads(json.dumps(meta)))
    return flow


async def _run(
    apps: list[Starlette], rng: random.Random, tenant: FakeTenant, clock: FakeClock, flow: Flow
) -> int:
    """One flow, each step on a replica picked at random; returns the 5xx answers it got."""
    jar = httpx.Cookies()
    errors = 0

    async def step(method: str, path: str, **kwargs: object) -> httpx.Response:
        nonlocal jar, errors
        app = rng.choice(apps)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(
            transport=transport, base_url="https://linker.test", cookies=jar
        ) as browser:
            response = await browser.request(method, path, **kwargs)  # type: ignore[arg-type]
            jar = browser.cookies
        if response.status_code >= 500 and response.status_code != 503:
            errors += 1
        return response

    primary = tenant.users[flow.primary]
    user = {"email": primary["email"], "email_verified": True, "identities": primary["identities"]}
    claims = start_claims(
        now=int(clock()), hint=tenant.id_token(sub=flow.primary), sub=flow.primary, user=user
    )
    started = await step(
        "GET", "/link/start", params={"session_token": hs256(claims), "state": "s"}
    )
    if started.status_code != 302:
        flow.status, flow.error = _ended(started)
        return errors
    code = tenant.login(started.headers["location"], sub=flow.secondary)
    back = await step(
        "GET", "/link/callback", params={"code": code, "state": nested_state(started)}
    )
    if is_confirm_page(back):  # the account is shown: the user presses Link
        back = await step("POST", "/link/confirm", data=confirm_fields(back, "link"))
    if back.status_code != 200:
        flow.status, flow.error = _ended(back)
        return errors
    resumed = read_resume(back)
    if resumed.status != "pending":
        flow.status, flow.error = resumed.status, resumed.error
        return errors
    token = hs256(commit_claims(now=int(clock()), commit=resumed.commit, primary=primary))
    try:
        answer = await step("POST", "/link/commit", json={"commit_token": token})
    except Crash:
        flow.status = "crashed"
        return errors
    if answer.status_code != 200:  # the shim: no 200, no result, nothing was changed
        flow.status, flow.error = "failed", "upstream_unavailable"
        return errors
    result = answer.json()
    flow.status, flow.error = result["status"], result["error"]
    return errors


def _ended(response: httpx.Response) -> tuple[str, str | None]:
    """A step that ended without resuming: a 503 page is "try again", anything else denied."""
    if response.status_code == 200:
        resumed = read_resume(response)
        return resumed.status, resumed.error
    if response.status_code == 503:
        return "failed", "upstream_unavailable"
    return "denied", f"HTTP {response.status_code}"
