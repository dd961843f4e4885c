"""Everything the steps of an attempt share, built once by `create_app`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from linker.ops.admission import Admission, Refusals
from linker.ops.audit import Audit
from linker.ops.observability import Metrics
from linker.settings import Settings
from linker.state.attempts import Attempts
from linker.state.store_clock import StoreClock
from linker.tenant.management import ManagementApi
from linker.tenant.oauth import Tenant
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
