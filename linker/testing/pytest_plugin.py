"""pytest fixtures for suites that test against the dev tenant and linker on loopback.

Enable them in the top-level `conftest.py` of your suite:

    pytest_plugins = ["linker.testing.pytest_plugin"]

`stack` starts the dev tenant (running the real Action in Node) and linker once per session;
`e2e` is that stack for one test, with the tenant back at its seed and the clocks back in step
afterwards. Both are a `linker.testing.stack.Stack`. Node must be on the PATH.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from linker.testing.stack import Stack, run_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The dev tenant and linker, served for the whole session."""
    with run_stack(tmp_path_factory.mktemp("audit") / "audit.jsonl") as running:
        yield running


@pytest.fixture
def e2e(stack: Stack) -> Iterator[Stack]:
    """The stack, with the tenant back at its seed and the clocks back in step."""
    stack.reset()
    stack.admin.delete("/__admin/faults")
    yield stack
    stack.rewind()
