"""`linker stack` as a Compose service (deploy/compose-stack.yaml), held against the command
it runs, and the one thing a container needs of the stack: listening beyond loopback under
the same URLs."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from linker.testing import StackConfig, run_stack
from linker.testing.stack_cli import parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def service() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose-stack.yaml").read_text())
    stack: dict[str, Any] = compose["services"]["stack"]
    return stack


def test_the_service_runs_linker_stack_from_the_devtenant_image(service: dict[str, Any]) -> None:
    assert service["build"] == {"context": "..", "target": "devtenant"}
    assert re.search(r"^FROM \S+ AS devtenant$", (ROOT / "Dockerfile").read_text(), re.M)
    verb, *flags = service["command"]
    assert verb == "stack"
    args = parser().parse_args(flags)
    assert args.host == "0.0.0.0"  # noqa: S104 (inside the container, published on loopback)
    # Published under the same numbers, so the URLs it prints work from the host.
    published = {tuple(port.split(":")[1:]) for port in service["ports"]}
    assert published == {
        (str(args.tenant_port), str(args.tenant_port)),
        (str(args.linker_port), str(args.linker_port)),
    }
    assert all(port.startswith("127.0.0.1:") for port in service["ports"])


def test_the_services_configuration_is_one_the_stack_serves(service: dict[str, Any]) -> None:
    source, target, _ = service["volumes"][0].split(":")
    args = parser().parse_args(service["command"][1:])
    assert Path(target) == args.config
    config = StackConfig.from_file(DEPLOY / source)
    assert config.allowed_clients == ("my-app",)
    assert {"google-oauth2|ann", "github|ann"} <= set(config.seed.user_ids)


def test_listening_on_every_address_keeps_the_urls() -> None:
    with run_stack(listen="0.0.0.0") as stack:  # noqa: S104
        assert stack.tenant_url.startswith("http://localhost:")
        assert stack.linker_url.startswith("http://127.0.0.1:")
        port = int(stack.linker_url.rsplit(":", 1)[1])
        # Another loopback address reaches it: it listens beyond 127.0.0.1.
        with socket.create_connection(("127.0.0.2", port), timeout=5):
            pass
        assert httpx.get(f"{stack.linker_url}/readyz", timeout=10).json()["status"] == "ready"
