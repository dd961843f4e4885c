"""Everything the steps of an attempt share, built once by `create_app`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from linker.admission import Admission, Refusals
from linker.attempts import Attempts
from linker.audit import Audit
from linker.cookies import TxnCookies
from linker.management import ManagementApi
from linker.observability import Metrics
from linker.settings import Settings
from linker.store_clock import StoreClock
from linker.tenant import Tenant


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
    # Set when this process recorded an event: its delivery loop (`linker.events`) wakes.
    events_recorded: asyncio.Event = field(default_factory=asyncio.Event)
