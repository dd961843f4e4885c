"""Everything the steps of an attempt share, built once by `build_runtime` (for `create_app`
and for `linker reconcile`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from linker.ops.admission import Admission, Refusals
from linker.ops.audit import Audit
from linker.ops.observability import Metrics, TimedUpstream
from linker.settings import Settings
from linker.state.attempts import Attempts
from linker.state.store import Store, open_store
from linker.state.store_clock import StoreClock
from linker.tenant.management import ManagementApi
from linker.tenant.oauth import Tenant
from linker.tenant.transport import Upstream
from linker.tenant.upstream import Retrier
from linker.web.cookies import TxnCookies


@dataclass(frozen=True)
class Runtime:
    """The service's parts; endpoints read it from `app.state.runtime`."""

    settings: Settings
    tenant: Tenant
    management: ManagementApi
    attempts: Attempts
    audit: Audit
    metrics: Metrics
    cookies: TxnCookies
    admission: Admission
    store_clock: StoreClock
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    refusals: Refusals = field(default_factory=Refusals)
    # Set when this process recorded an event: its delivery loop (`linker.steps.delivery`) wakes.
    events_recorded: asyncio.Event = field(default_factory=asyncio.Event)


def build_runtime(
    settings: Settings,
    *,
    http: Upstream,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
    retrier: Retrier | None = None,
) -> Runtime:
    """The service's parts, for `create_app` and for `linker reconcile`."""
    metrics = Metrics()
    upstream = TimedUpstream(http, metrics)
    # A copy that counts attempts: an injected Retrier is left as its owner made it.
    retrier = replace(
        retrier or Retrier(clock=clock),
        on_attempt=lambda outcome: metrics.count("linker_upstream_attempts_total", outcome=outcome),
    )
    # `is None`: an empty MemoryStore is falsy (it has a length), and must still be used.
    ca_file = str(settings.redis_ca_file) if settings.redis_ca_file else None
    kv = (
        store
        if store is not None
        else open_store(settings.store_url.reveal(), clock=clock, ca_file=ca_file)
    )
    tenant = Tenant(settings, upstream, retrier, clock=clock, store=kv)
    attempts = Attempts(kv, max_pending_per_user=settings.max_pending_per_user)
    return Runtime(
        settings=settings,
        tenant=tenant,
        management=ManagementApi(tenant, upstream, retrier),
        attempts=attempts,
        # Lines the file refuses wait in the store the attempts use (tests may swap it).
        audit=Audit(settings.audit_file, store=lambda: attempts.store, metrics=metrics),
        metrics=metrics,
        cookies=TxnCookies(settings.action_secrets, max_age=settings.txn_ttl),
        admission=Admission(settings.max_in_flight),
        store_clock=StoreClock(lambda: attempts.store, clock),
        clock=clock,
        sleep=retrier.sleep,
    )
