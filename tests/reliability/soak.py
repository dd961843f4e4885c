"""Complete link flows against a fake tenant that fails a share of its calls, and a check of
the tenant's final state against every result the flows were given.

Faults: 429 with Retry-After, 500, 503, a timeout, a reset connection (none of these applied),
a write applied whose answer is lost, and a crash of linker right after the tenant applied a
link (the commit never answers). After the flows, pending work is reconciled; then every
`linked` must be linked with its merge applied, every other result must have left the primary
untouched unless its outcome was unknown (then: merge applied if and only if linked), no
identity may be linked twice, and no flow may be denied (every flow is legitimate: a fault is
never a reason to say no). Every link written must have reached the application as one
`identity.linked` event, and no event may name a link that was not written.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc.jwk import RSAKey

from linker.app import create_app
from linker.client.events import IdentityLinked
from linker.core.merge import merge_metadata
from linker.settings import Settings
from linker.steps.reconcile import SETTLE_AFTER
from linker.tenant.upstream import Retrier
from linker.testing import FakeClock
from linker.testing.events import EventSink
from tests.events.support import EVENTS_SECRET
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

# Delivery passes after the flows, at most (one usually sends every event).
EVENT_PASSES = 100
FAULT_KINDS = ("429", "500", "503", "timeout", "reset", "lost")


class Crash(BaseException):
    """linker's process dies: nothing after this point runs (BaseException escapes handlers)."""


@dataclass
class FaultyTenant:
    """Wraps the fake tenant's handler with random faults at `rate`."""

    tenant: FakeTenant
    rng: random.Random
    rate: float
    crash_rate: float
    on: bool = True
    injected: Counter[str] = field(default_factory=Counter)

    def handle(self, request: httpx.Request) -> httpx.Response:
        route = self.tenant.route(request)
        if self.on and route == "POST identities" and self.rng.random() < self.crash_rate:
            self.injected["crash"] += 1
            self.tenant.handle(request)
            raise Crash
        if not self.on or self.rng.random() >= self.rate:
            return self.tenant.handle(request)
        kind = self.rng.choice(FAULT_KINDS)
        self.injected[kind] += 1
        if kind == "429":
            return httpx.Response(429, headers={"retry-after": "1"}, json={"statusCode": 429})
        if kind in ("500", "503"):
            return httpx.Response(int(kind), json={"statusCode": int(kind)})
        if kind == "timeout":
            raise httpx.ReadTimeout("injected", request=request)
        if kind == "reset":
            raise httpx.RemoteProtocolError("injected reset", request=request)
        self.tenant.handle(request)  # applied, and then the answer is lost
        raise httpx.ReadTimeout("answer lost", request=request)


@dataclass
class Flow:
    primary: str
    secondary: str
    primary_meta: dict[str, Any]
    secondary_meta: dict[str, Any]
    status: str = ""
    error: str | None = None


@dataclass
class SoakReport:
    flows: list[Flow]
    statuses: Counter[str]
    injected: Counter[str]
    half_done: int
    untrue: int
    linked_twice: int
    denied: int
    links_written: int = 0
    events_delivered: int = 0
    events_untrue: int = 0  # events for a link the tenant does not hold

    def lines(self) -> list[str]:
        return [
            f"flows: {len(self.flows)}",
            "results: " + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())),
            "faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(self.injected.items())),
            f"half-done: {self.half_done}",
            f"untrue results: {self.untrue}",
            f"identities linked twice: {self.linked_twice}",
            f"denied by a fault: {self.denied}",
            f"links written: {self.links_written}",
            f"events delivered: {self.events_delivered}",
            f"events for a link not written: {self.events_untrue}",
        ]


async def soak(
    *, flows: int, rate: float = 0.3, crash_rate: float = 0.03, seed: int = 7
) -> SoakReport:
    clock = FakeClock()
    tenant = FakeTenant(
        key=RSAKey.generate_key(2048, parameters={"kid": "k", "use": "sig"}), clock=clock
    )
    faulty = FaultyTenant(tenant, random.Random(seed), rate, crash_rate)
    with EventSink(EVENTS_SECRET) as sink:
        settings = make_settings(LINKER_EVENTS_URL=sink.url, LINKER_EVENTS_SECRET=EVENTS_SECRET)
        return await _soak(flows, seed, clock, tenant, faulty, settings, sink)


async def _soak(
    flows: int,
    seed: int,
    clock: FakeClock,
    tenant: FakeTenant,
    faulty: FaultyTenant,
    settings: Settings,
    sink: EventSink,
) -> SoakReport:
    upstream = httpx.AsyncClient(transport=httpx.MockTransport(faulty.handle))
    app = create_app(
        settings,
        http=HttpxUpstream(upstream),
        clock=clock,
        retrier=Retrier(clock=clock, sleep=clock.sleep, rng=random.Random(seed)),
    )
    plan = []
    for i in range(flows):
        flow = Flow(
            primary=f"google-oauth2|u{i}",
            secondary=f"github|{i}",
            primary_meta={"theme": "dark", "n": i, "prefs": {"lang": "en"}},
            secondary_meta={"theme": "light", "gh": i, "prefs": {"tz": "UTC"}},
        )
        tenant.add_user(
            flow.primary,
            email=f"u{i}@example.com",
            user_metadata=json.loads(json.dumps(flow.primary_meta)),
        )
        tenant.add_user(
            flow.secondary,
            email=f"u{i}@example.com",
            user_metadata=json.loads(json.dumps(flow.secondary_meta)),
        )
        plan.append(flow)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        for flow in plan:
            async with httpx.AsyncClient(
                transport=transport, base_url=settings.public_url
            ) as browser:
                await _run(browser, tenant, clock, flow)
        faulty.on = False
        clock.now += SETTLE_AFTER + 1
        await app.state.reconcile()
        for _ in range(EVENT_PASSES):  # the receiver never fails: what is left is leased
            if (await app.state.deliver_events()).waiting == 0:
                break
            await asyncio.sleep(0.05)
    await upstream.aclose()
    report = _judge(plan, tenant, faulty.injected)
    events = sink.events
    linked = {f.secondary for f in plan if f.secondary in _identities(tenant, f.primary)}
    report.links_written = len(linked)
    report.events_delivered = len(events)
    report.events_untrue = sum(
        1 for e in events if not isinstance(e, IdentityLinked) or e.former_user_id not in linked
    )
    return report


def _identities(tenant: FakeTenant, user_id: str) -> list[str]:
    return [f"{i['provider']}|{i['user_id']}" for i in tenant.users[user_id]["identities"]]


async def _run(
    browser: httpx.AsyncClient, tenant: FakeTenant, clock: FakeClock, flow: Flow
) -> None:
    primary = tenant.users[flow.primary]
    user = {"email": primary["email"], "email_verified": True, "identities": primary["identities"]}
    claims = start_claims(
        now=int(clock()), hint=tenant.id_token(sub=flow.primary), sub=flow.primary, user=user
    )
    started = await browser.get(
        "/link/start", params={"session_token": hs256(claims), "state": "s"}
    )
    if started.status_code != 302:
        resumed = read_resume(started)
        flow.status, flow.error = resumed.status, resumed.error
        return
    code = tenant.login(started.headers["location"], sub=flow.secondary)
    params = {"code": code, "state": nested_state(started)}
    back = await browser.get("/link/callback", params=params)
    if is_confirm_page(back):  # the account is shown: the user presses Link
        back = await browser.post("/link/confirm", data=confirm_fields(back, "link"))
    resumed = read_resume(back)
    if resumed.status != "pending":
        flow.status, flow.error = resumed.status, resumed.error
        return
    token = hs256(commit_claims(now=int(clock()), commit=resumed.commit, primary=primary))
    try:
        answer = await browser.post("/link/commit", json={"commit_token": token})
    except Crash:
        flow.status = "crashed"
        return
    result = answer.json()
    flow.status, flow.error = result["status"], result["error"]


def _judge(plan: list[Flow], tenant: FakeTenant, injected: Counter[str]) -> SoakReport:
    statuses: Counter[str] = Counter()
    half_done = untrue = denied = 0
    owners: Counter[str] = Counter()
    for user in tenant.users.values():
        for identity in user["identities"]:
            owners[f"{identity['provider']}|{identity['user_id']}"] += 1
    linked_twice = sum(1 for n in owners.values() if n > 1)
    for flow in plan:
        statuses[(flow.error or flow.status) if flow.status == "failed" else flow.status] += 1
        primary = tenant.users[flow.primary]
        ids = [f"{i['provider']}|{i['user_id']}" for i in primary["identities"]]
        is_linked = flow.secondary in ids
        merged = merge_metadata(flow.primary_meta, flow.secondary_meta, "primary-wins")
        if is_linked and primary["user_metadata"] != merged:
            half_done += 1  # linked, merge missing
        if not is_linked and primary["user_metadata"] != flow.primary_meta:
            half_done += 1  # merged (or touched), not linked
        if flow.status == "denied":
            denied += 1
        if flow.status == "linked" and not is_linked:
            untrue += 1
        if flow.status in ("failed", "denied") and flow.error != "outcome_unknown" and is_linked:
            untrue += 1
    return SoakReport(plan, statuses, injected, half_done, untrue, linked_twice, denied)
