"""The sample app in-process (ASGI) against a fake tenant (httpx.MockTransport)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from linker.demo.config import SampleAppConfig
from linker.demo.sample_app import create_sample_app
from linker.testing import FakeClock
from tests.demo.demo_fakes import CLIENT_SECRET, TENANT_URL, Demo, demo_tenant


@pytest.fixture
async def demo() -> AsyncIterator[Demo]:
    clock = FakeClock()
    tenant = demo_tenant(
        clock, [{"connection": "google-oauth2", "provider": "google-oauth2", "user_id": "alice"}]
    )
    http = httpx.AsyncClient(transport=tenant.transport())
    config = SampleAppConfig(tenant_url=TENANT_URL, client_secret=CLIENT_SECRET)
    app = create_sample_app(config, http=http, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        yield Demo(tenant, client, clock)
    await http.aclose()


from tests.demo.chromium import browser, page, shots  # noqa: E402, F401 - shared fixtures
from tests.demo.demo_servers import demo_urls  # noqa: E402, F401 - a shared fixture
