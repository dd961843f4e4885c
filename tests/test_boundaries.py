"""Which part of linker may import which.

- `linker.core` is the protocol: the standard library (minus the network), joserfc and
  itself. No web framework, HTTP client or store.
- `linker.client` is the SDK applications embed: `linker.core` and itself, never the service.
- The service (every other module of `linker`) never imports the SDK, the sample app, the
  dev tenant or the test helpers.
- Within the service, the parts keep one direction: the steps (`linker.steps`) never import
  the web layer (`linker.web`, `linker.app`); stored state (`linker.state`) and operations
  (`linker.ops`) never import a step or the web layer; the tenant's side (`linker.tenant.oauth`)
  imports neither steps nor web.
- The sample app, the dev tenant and `linker.testing` use public API only: names exported by
  `linker`, `linker.core`, `linker.client`, `linker.testing`, and the `linker.devtenant`
  package's exports.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import linker

ROOT = Path(linker.__file__).parent
PACKAGES = ("core", "client", "demo", "devtenant", "testing")
SERVICE_PARTS = ("steps", "web", "tenant", "state", "ops", "commands")
WEB = ("linker.web", "linker.app")
# What each part of the service may not import, on top of the service's own rule.
FORBIDDEN = {
    "steps": WEB,
    "web": (),
    "tenant": ("linker.steps", *WEB),
    "state": ("linker.steps", *WEB),
    "ops": ("linker.steps", *WEB),
    "commands": WEB,
}
NETWORK_STDLIB = frozenset(
    {"socket", "ssl", "http", "urllib.request", "asyncio.streams", "subprocess", "smtplib"}
)
PUBLIC = ("linker.core", "linker.client", "linker.testing")


def imports_of(source: str) -> list[str]:
    """Every module a source file imports, at any depth (function-local imports included)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "linker uses absolute imports only"
            module = node.module or ""
            if module == "linker":  # `from linker import create_app`: the top-level API
                found.append("linker")
            else:
                found.append(module)
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@dataclass(frozen=True)
class Rule:
    part: str
    why: str

    def refuses(self, module: str) -> bool:
        if self.part == "core":
            if _within(module, "linker"):
                return not _within(module, "linker.core")
            top = module.split(".")[0]
            if top == "joserfc":
                return False
            if any(_within(module, name) for name in NETWORK_STDLIB):
                return True
            return top not in sys.stdlib_module_names
        if not _within(module, "linker"):
            return False
        if self.part == "client":
            return not (_within(module, "linker.client") or _within(module, "linker.core"))
        if self.part == "service" or self.part in SERVICE_PARTS:
            return any(_within(module, f"linker.{name}") for name in PACKAGES[1:]) or any(
                _within(module, name) for name in FORBIDDEN.get(self.part, ())
            )
        # the sample app, the dev tenant and the test helpers: public API and themselves
        own = f"linker.{self.part}"
        return not (
            module in ("linker", "linker.devtenant")
            or _within(module, own)
            or any(_within(module, name) for name in PUBLIC)
        )


RULES = {
    "core": Rule("core", "the protocol imports no I/O library and nothing else of linker"),
    "client": Rule("client", "the SDK imports nothing from the service"),
    "service": Rule("service", "the service does not lean on the SDK, demo or dev tenant"),
    "demo": Rule("demo", "the sample app uses public API only"),
    "devtenant": Rule("devtenant", "the dev tenant uses public API only"),
    "testing": Rule("testing", "test helpers use public API only"),
    "steps": Rule("steps", "a step returns what happened and never touches the web layer"),
    "web": Rule("web", "the web layer does not lean on the SDK, demo or dev tenant"),
    "tenant": Rule("tenant", "the tenant's client knows nothing of the steps or the web layer"),
    "state": Rule("state", "stored state knows nothing of the steps or the web layer"),
    "ops": Rule("ops", "operations observe the steps and never import them"),
    "commands": Rule("commands", "a command runs the steps without the web layer"),
}

# The command line dispatches `linker dev-tenant`, `linker demo` and `linker stack` to the dev
# distribution.
ALLOWED = {
    ("linker/cli.py", "linker.devtenant.cli"),
    ("linker/cli.py", "linker.demo.cli"),
    ("linker/cli.py", "linker.testing.stack_cli"),
}


def part_of(path: Path) -> str:
    relative = path.relative_to(ROOT)
    return relative.parts[0] if len(relative.parts) > 1 else "service"


def wrong_way_imports() -> list[str]:
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        rule = RULES[part_of(path)]
        name = f"linker/{path.relative_to(ROOT)}"
        for module in imports_of(path.read_text()):
            if rule.refuses(module) and (name, module) not in ALLOWED:
                problems.append(f"{name} imports {module}: {rule.why}")
    return problems


def test_every_part_of_linker_imports_only_what_its_boundary_allows() -> None:
    assert wrong_way_imports() == []


@pytest.mark.parametrize(
    ("part", "source"),
    [
        ("service", "from linker.client.pkce import s256_challenge"),
        ("service", "from linker.demo.pages import page"),
        ("core", "import httpx"),
        ("core", "from starlette.responses import Response"),
        ("core", "import redis.asyncio"),
        ("core", "from linker.settings import Settings"),
        ("core", "import socket"),
        ("core", "def f():\n    from urllib.request import urlopen"),
        ("client", "from linker.tenant.oauth import Tenant"),
        ("demo", "from linker.tenant.oauth import json_object"),
        ("demo", "from linker.keys import KeyCache"),
        ("demo", "from linker.devtenant.state import Store"),
        ("devtenant", "from linker.shim import shim_path"),
        ("testing", "from linker.runtime import build_runtime"),
        ("steps", "from linker.web.render import render"),
        ("steps", "from linker.app import create_app"),
        ("state", "from linker.steps.commit import commit"),
        ("state", "from linker.web.cookies import cookie_name"),
        ("ops", "from linker.steps.outcomes import DeadEnd"),
        ("tenant", "def f():\n    from linker.steps import writes"),
    ],
)
def test_a_wrong_way_import_is_refused(part: str, source: str) -> None:
    assert any(RULES[part].refuses(module) for module in imports_of(source))


@pytest.mark.parametrize(
    ("part", "source"),
    [
        ("core", "from joserfc import jwt\nimport hashlib\nfrom urllib.parse import urlencode"),
        ("client", "import httpx\nfrom linker.core.pkce import s256_challenge"),
        ("demo", "from linker import create_app\nfrom linker.client import TokenVault"),
        ("demo", "from linker.devtenant import create_dev_tenant"),
        ("devtenant", "from linker.core.pkce import s256_challenge"),
        ("service", "from linker.core.decisions import plan\nimport httpx"),
        ("steps", "from linker.state.attempts import Attempts\nfrom linker.ops import audit"),
        ("web", "from linker.steps.outcomes import DeadEnd"),
        ("tenant", "from linker.state.store import Store"),
        ("ops", "from linker.tenant.transport import Upstream"),
    ],
)
def test_an_import_within_the_boundary_is_allowed(part: str, source: str) -> None:
    assert not any(RULES[part].refuses(module) for module in imports_of(source))
