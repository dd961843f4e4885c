"""Starts the dev tenant (running the real shim in Node) and linker on loopback, once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from starlette.applications import Starlette

from linker.app import create_app
from linker.devtenant import DevTenantConfig, create_dev_tenant, load_seed
from linker.settings import Settings
from linker.testing import FakeClock, ServerThread, free_port
from tests.e2e.stack import APP_CALLBACK, APP_SECRETS, Stack

ACTION_SECRET = "e2e-action-secret-0123456789-0123456789"
TENANT_HOST, LINKER_HOST = "127.0.0.1", "127.0.0.2"


def e2e_seed(linker_url: str) -> dict[str, object]:
    seed: dict[str, Any] = json.loads(
        resources.files("linker.devtenant").joinpath("seed.json").read_text()
    )
    for client in seed["clients"]:
        client["callbacks"] = (
            [APP_CALLBACK] if client["client_id"] == "demo-app" else [f"{linker_url}/link/callback"]
        )
    seed["clients"].append(
        {
            "client_id": "other-app",
            "name": "An app linker does not allow",
            "client_secret": APP_SECRETS["other-app"],
            "callbacks": [APP_CALLBACK],
            "management_scopes": [],
        }
    )
    return seed


def dev_tenant(tenant_url: str, linker_url: str) -> Starlette:
    """The dev tenant for these tests: its Action sends users to (and commits at) `linker_url`."""
    return create_dev_tenant(
        DevTenantConfig(
            base_url=tenant_url,
            seed=load_seed(e2e_seed(linker_url)),
            action_secrets={
                "LINKER_URL": linker_url,
                "LINKER_ACTION_SECRET": ACTION_SECRET,
                "LINKER_CLIENT_ID": "linker",
            },
            admin=True,
        )
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tenant_port, linker_port = free_port(TENANT_HOST), free_port(LINKER_HOST)
    tenant_url = f"http://{TENANT_HOST}:{tenant_port}"
    linker_url = f"http://{LINKER_HOST}:{linker_port}"
    audit_file = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    tenant = dev_tenant(tenant_url, linker_url)
    settings = Settings.from_env(
        {
            "LINKER_AUTH0_DOMAIN": f"{TENANT_HOST}:{tenant_port}",
            "LINKER_TENANT_SCHEME": "http",
            "LINKER_CLIENT_ID": "linker",
            "LINKER_CLIENT_SECRET": "linker-secret-change-me-0123456789",
            "LINKER_ACTION_SECRETS": ACTION_SECRET,
            "LINKER_PUBLIC_URL": linker_url,
            "LINKER_ALLOWED_CLIENT_IDS": "demo-app",
            "LINKER_AUDIT_FILE": str(audit_file),
            "LINKER_UPSTREAM_BUDGET": "3",
        }
    )
    clock = FakeClock(real_time=True)
    linker = create_app(settings, clock=clock)
    with (
        ServerThread(tenant, host=TENANT_HOST, port=tenant_port),
        ServerThread(linker, host=LINKER_HOST, port=linker_port),
    ):
        stack = Stack(tenant_url, linker_url, linker, clock, audit_file)
        yield stack
        stack.admin.close()


@pytest.fixture
def e2e(stack: Stack) -> Iterator[Stack]:
    """The stack, with the tenant back at its seed and the clocks back in step."""
    stack.reset()
    stack.admin.delete("/__admin/faults")
    yield stack
    if stack.linker_clock.offset:
        stack.advance(-stack.linker_clock.offset)
