"""A certified OpenID Provider on loopback: panva's `oidc-provider`, installed from npm.

The package is installed once into `.cache/oidc-provider/` in the repository (git-ignored) with
`npm install`, pinned to one version; a missing npm fails the suite with the install hint,
never skips it. Each test starts its own provider process on a free port.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from linker.testing import free_port

HERE = Path(__file__).resolve().parent
CACHE = HERE.parents[1] / ".cache" / "oidc-provider"
VERSION = "9.13.3"
START_TIMEOUT = 20.0


@pytest.fixture(scope="session")
def provider_dir() -> Path:
    """`.cache/oidc-provider` with the pinned package and the provider script."""
    installed = CACHE / "node_modules" / "oidc-provider" / "package.json"
    if not installed.is_file() or json.loads(installed.read_text())["version"] != VERSION:
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(
                "npm is needed to install oidc-provider for the conformance tests: "
                "run scripts/system-deps (or apt-get install npm)"
            )
        CACHE.mkdir(parents=True, exist_ok=True)
        manifest = {"private": True, "type": "module", "dependencies": {"oidc-provider": VERSION}}
        (CACHE / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CACHE,
            check=True,
            timeout=600,
        )
    shutil.copyfile(HERE / "provider.mjs", CACHE / "provider.mjs")
    return CACHE


@dataclass(frozen=True)
class Provider:
    port: int

    @property
    def domain(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"http://{self.domain}/"


StartProvider = Callable[[dict[str, Any]], "Provider"]  # runs oidc-provider with a config


@pytest.fixture
def start_provider(provider_dir: Path) -> Iterator[StartProvider]:
    """`start_provider(config)` runs oidc-provider with `config` (see provider.mjs)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed for the conformance tests: run scripts/system-deps")
    processes: list[subprocess.Popen[str]] = []

    def start(config: dict[str, Any]) -> Provider:
        port = free_port()
        process = subprocess.Popen(
            [node, "provider.mjs", json.dumps({**config, "port": port})],
            cwd=provider_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening "):
            process.kill()
            _, err = process.communicate(timeout=START_TIMEOUT)
            pytest.fail(f"oidc-provider did not start: {line}{err}")
        return Provider(port)

    yield start
    for process in processes:
        process.terminate()
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
