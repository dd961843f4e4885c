"""Both wheels, built from this tree and installed into a fresh virtualenv, work as a user
would run them: `linker action`, the dev hint, `linker dev-tenant`, `linker check` and
`linker serve` against it, and `linker demo` up to its printed URL and through one link.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from linker.testing import ScriptedBrowser, free_port
from tests.demo.demo_servers import FREE_PORTS

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[2]
SHIM = ROOT / "deploy" / "action" / "linker-action.js"
SECRET = "wheel-action-secret-0123456789-0123456789"


def run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        [str(a) for a in args], capture_output=True, text=True, timeout=300, check=False, **kwargs
    )
    return done


class Installed:
    """A virtualenv with linker installed from wheels, and a clean environment to run it in."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "venv" / "bin"
        self.home = root / "home"  # the working directory: no checkout, no .env
        self.home.mkdir()
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("LINKER_")
        }
        self.env["PATH"] = f"{self.bin}:{self.env.get('PATH', '/usr/bin:/bin')}"
        # `linker demo` and `linker action` as run before the dev distribution was installed.
        self.operator_only: tuple[subprocess.CompletedProcess[str], ...] = ()

    def linker(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run(self.bin / "linker", *args, env={**self.env, **env}, cwd=self.home)

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.bin / "linker"), *args],
            env={**self.env, **env},
            cwd=self.home,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, ROOT, ROOT / "dev"
    )
    assert built.returncode == 0, built.stderr
    found = {w.name.split("-")[0]: w for w in out.glob("*.whl")}
    assert set(found) == {"linker_auth0", "linker_auth0_dev"}
    return found


def names_in(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if ".dist-info/" not in n}


def test_the_operator_wheel_ships_the_shim_and_no_dev_tools(wheels: dict[str, Path]) -> None:
    names = names_in(wheels["linker_auth0"])
    assert {"linker/__init__.py", "linker/app.py", "linker/action/linker-action.js"} <= names
    assert not [n for n in names if n.split("/")[1] in ("devtenant", "demo", "testing")]
    with zipfile.ZipFile(wheels["linker_auth0"]) as archive:
        assert archive.read("linker/action/linker-action.js") == SHIM.read_bytes()


def test_the_dev_wheel_ships_only_the_dev_tools(wheels: dict[str, Path]) -> None:
    names = names_in(wheels["linker_auth0_dev"])
    assert {n.split("/")[1] for n in names} == {"devtenant", "demo", "testing"}
    assert "linker/devtenant/seed.json" in names and "linker/__init__.py" not in names
    assert not [n for n in names if "__pycache__" in n]


@pytest.fixture(scope="module")
def installed(
    wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installed]:
    where = Installed(tmp_path_factory.mktemp("installed"))
    made = run(sys.executable, "-m", "venv", where.root / "venv")
    assert made.returncode == 0, made.stderr
    pip = where.bin / "pip"
    first = run(pip, "install", "-q", wheels["linker_auth0"], env=where.env)
    assert first.returncode == 0, first.stderr
    # Without the dev distribution: the operator's install.
    every_module = (  # but __main__, which would run the command line
        "import importlib, pkgutil, linker\n"
        "for m in pkgutil.walk_packages(linker.__path__, 'linker.'):\n"
        "    if m.name != 'linker.__main__': importlib.import_module(m.name)"
    )
    where.operator_only = (
        where.linker("demo"),
        where.linker("action"),
        run(where.bin / "python", "-c", every_module, env=where.env, cwd=where.home),
    )
    second = run(
        pip,
        "install",
        "-q",
        "--no-index",
        "--find-links",
        wheels["linker_auth0"].parent,
        wheels["linker_auth0_dev"],
        env=where.env,
    )
    assert second.returncode == 0, second.stderr
    yield where


def test_without_the_dev_distribution(installed: Installed) -> None:
    demo, action, imports = installed.operator_only
    # Every module of the operator's wheel imports without the dev distribution.
    assert imports.returncode == 0, imports.stderr
    assert demo.returncode == 2
    assert demo.stderr.strip() == (
        "linker demo is part of linker's development tools: pip install 'linker-auth0[dev]'"
    )
    assert action.returncode == 0 and action.stdout == SHIM.read_text()


def test_linker_runs_from_the_virtualenv_not_the_checkout(installed: Installed) -> None:
    done = run(
        installed.bin / "python",
        "-c",
        "import linker.shim as s; print(s.shim_path())",
        env=installed.env,
        cwd=installed.home,
    )
    path = Path(done.stdout.strip())
    assert path.is_relative_to(installed.root) and path.parts[-2:] == ("action", SHIM.name)
    # The dev tenant's --help names the shim it runs: this one, not the checkout's.
    helped = installed.linker("dev-tenant", "--help")
    assert str(path) in "".join(helped.stdout.split()), helped.stdout  # wrapped by argparse


def wait_for(url: str, server: subprocess.Popen[str], seconds: float = 30) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            assert server.poll() is None, server.communicate()[0]
            assert time.monotonic() < deadline, f"{url} did not answer"
            time.sleep(0.1)


def test_check_and_serve_against_the_installed_dev_tenant(installed: Installed) -> None:
    port, linker_port = free_port(), free_port()
    linker_url = f"http://127.0.0.1:{linker_port}"
    settings = {
        "LINKER_AUTH0_DOMAIN": f"127.0.0.1:{port}",
        "LINKER_TENANT_SCHEME": "http",
        "LINKER_CLIENT_ID": "linker",
        "LINKER_CLIENT_SECRET": "linker-secret-change-me-0123456789",
        "LINKER_ACTION_SECRETS": SECRET,
        "LINKER_PUBLIC_URL": linker_url,
        "LINKER_ALLOWED_CLIENT_IDS": "demo-app",
    }
    tenant = installed.popen(
        "dev-tenant", "--port", str(port), "--linker-url", linker_url, "--action-secret", SECRET
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/.well-known/openid-configuration", tenant)
        done = installed.linker("check", **settings)
        server = installed.popen("serve", "--port", str(linker_port), **settings)
        try:
            ready = wait_for(f"{linker_url}/readyz", server)
        finally:
            server.terminate()
            server.communicate(timeout=30)
    finally:
        tenant.terminate()
        tenant.communicate(timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == f"ok: settings valid, tenant 127.0.0.1:{port} answers\n"
    body = ready.json()
    assert {k: body[k] for k in ("status", "store", "keys")} == {
        "status": "ready",
        "store": True,
        "keys": True,
    }
    assert abs(body["clock_offset_seconds"]) < 5  # this host's clock against the store's


def test_demo_serves_its_printed_url_and_links(installed: Installed) -> None:
    demo = installed.popen("demo", *FREE_PORTS)
    try:
        assert demo.stdout is not None
        first = demo.stdout.readline()
        found = re.fullmatch(r"Open (http://localhost:\d+) and sign in\n", first)
        assert found, first
        app = found[1]
        assert "Sign in" in httpx.get(app, timeout=10).text
        # One link, so the dev tenant runs the Action shim shipped in the wheel.
        with ScriptedBrowser() as browser:
            browser.get(app + "/login")
            browser.submit(browser.form_with(connection="google-oauth2"))
            browser.submit(browser.form_with(user_id="google-oauth2|alice"))
            browser.submit(browser.form_saying("Link GitHub"))
            browser.submit(browser.form_with(user_id="github|1001"))
            browser.submit(browser.form_with(choice="link"))  # linker shows the account: Link
            page = browser.auto_submit()
        assert "Linked: github (github|1001)" in page.text
    finally:
        demo.terminate()
        demo.communicate(timeout=30)


# -- testing your own application, as docs/testing.md tells a new project ------------------

GUIDE = ROOT / "docs" / "testing.md"
# A path into the repository (not part of a URL): fine only where the wheels ship it under
# linker/, or where the same line says it is the repository's (or a checkout's).
REPO_PATH = re.compile(r"(?<![\w/.-])((?:tests|docs|deploy|benchmarks|scripts)/[\w./-]*\w)")


def dangling(line: str, shipped: set[str]) -> list[str]:
    """The repository paths `line` points at that the wheels do not ship."""
    if "repository" in line or "checkout" in line:
        return []
    return [
        found
        for found in REPO_PATH.findall(line)
        if not any(name.startswith(f"linker/{found}") for name in shipped)
    ]


def test_the_check_for_dangling_paths_can_fail() -> None:
    shipped = {"linker/docs/protocol.md", "linker/action/linker-action.js"}
    assert dangling("see tests/conformance and deploy/action/", shipped) == [
        "tests/conformance",
        "deploy/action",
    ]
    assert dangling("as docs/protocol.md says; https://auth0.com/docs/api/x", shipped) == []
    assert dangling("the repository's tests/test_boundaries.py", shipped) == []


def test_nothing_shipped_points_at_a_file_the_wheels_lack(wheels: dict[str, Path]) -> None:
    shipped: set[str] = set()
    texts: dict[str, str] = {}
    for wheel in wheels.values():
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                shipped.add(name)
                if name.endswith((".py", ".js")):
                    texts[name] = archive.read(name).decode()
    assert len(texts) > 100
    found = [
        f"{name}: {path}"
        for name, text in texts.items()
        for line in text.splitlines()
        for path in dangling(line, shipped)
    ]
    assert found == []


def guide_files() -> dict[str, str]:
    """The files docs/testing.md shows a new project, by name."""
    found = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", GUIDE.read_text(), re.S)
    return dict(found)


def test_a_new_project_tests_its_own_app_with_only_what_the_guide_shows(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    # The server-side project (the single-page app is a project of its own, under spa/).
    files = {name: text for name, text in guide_files().items() if "/" not in name}
    assert set(files) == {"myapp.py", "conftest.py", "test_myapp.py", "pyproject.toml"}
    project = tmp_path / "project"  # outside the repository, no checkout on sys.path
    project.mkdir()
    for name, text in files.items():
        (project / name).write_text(text)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith(("LINKER_", "PYTEST_"))
    }
    made = run(sys.executable, "-m", "venv", tmp_path / "venv")
    assert made.returncode == 0, made.stderr
    bin_dir = tmp_path / "venv" / "bin"
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}"
    # The guide's install line, with its `wheels` folder the one the wheels were built into.
    line = next(line for line in GUIDE.read_text().splitlines() if line.startswith("pip install "))
    words = shlex.split(line.split("#")[0])
    words[words.index("wheels")] = str(wheels["linker_auth0"].parent)
    installed = run(bin_dir / "pip", "install", "-q", *words[2:], env=env, cwd=project)
    assert installed.returncode == 0, installed.stderr
    tested = run(
        bin_dir / "python", "-m", "pytest", "-v", "-p", "no:cacheprovider", env=env, cwd=project
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    for name in (
        "test_link_github",
        "test_unlink_github",
        "test_an_unverified_github_account_is_refused",
        "test_the_agent_asks_for_a_link_then_gets_the_token",
    ):
        assert f"test_myapp.py::{name} PASSED" in tested.stdout
    assert "4 passed" in tested.stdout
