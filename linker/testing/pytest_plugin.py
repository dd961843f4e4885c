"""pytest fixtures for suites that test their application against the dev tenant and linker.

Enable them in the top-level `conftest.py` of your suite:

    pytest_plugins = ["linker.testing.pytest_plugin"]

`linker_stack_config` (session scope) is what the stack serves: override it in your
`conftest.py` to register your application's clients, connections, users and linker's
settings (a `linker.testing.StackConfig`), or name a JSON file of the same in the ini option
`linker_stack_config`. By default it is the bundled seed with linker allowing `demo-app`.

`stack` starts the dev tenant (running the real Action in Node) and linker once per session
(once per worker under pytest-xdist, each on its own ports); `e2e` is that stack for one test:
the tenant at the configured seed, linker's store empty, before it; the clocks back in step
after it. Both are a `linker.testing.Stack`. When the stack cannot start (no Node.js, a port
that cannot be bound, a bad configuration) the session stops at once with one line saying why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from linker.testing.config import ConfigError, StackConfig
from linker.testing.servers import StartError
from linker.testing.stack import Stack, run_stack

INI_CONFIG = "linker_stack_config"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_CONFIG,
        "a JSON stack configuration (clients, connections, users, linker settings) for the "
        "`stack` fixture, relative to the ini file",
        default="",
    )


@pytest.fixture(scope="session")
def linker_stack_config(pytestconfig: pytest.Config) -> StackConfig:
    """What the stack serves for the session; override it to put your application in."""
    named = str(pytestconfig.getini(INI_CONFIG) or "")
    if not named:
        return StackConfig()
    path = Path(named)
    if not path.is_absolute() and pytestconfig.inipath is not None:
        path = pytestconfig.inipath.parent / path
    try:
        return StackConfig.from_file(path)
    except ConfigError as exc:
        pytest.exit(f"linker.testing: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def stack(
    linker_stack_config: StackConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The dev tenant and linker, served for the whole session."""
    audit_file = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    try:
        running = run_stack(linker_stack_config, audit_file=audit_file)
        started = running.__enter__()
    except StartError as exc:
        pytest.exit(f"linker.testing: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
    try:
        yield started
    finally:
        running.__exit__(None, None, None)


@pytest.fixture
def e2e(stack: Stack) -> Iterator[Stack]:
    """The stack for one test: the tenant at the configured seed and linker's store empty
    before it, the clocks back in step after it."""
    stack.reset()
    yield stack
    stack.rewind()
