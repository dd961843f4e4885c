"""`linker check` names a discovery issuer that is not the configured tenant's (Discovery 4.3).

The dev tenant answers on both localhost and 127.0.0.1, but calls itself localhost: a setting
of `127.0.0.1:PORT` reaches it and would be trusted by a client that skips the comparison.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from linker.testing.stack import Stack
from tests.e2e.test_commands_e2e import env_for

pytestmark = pytest.mark.e2e


def test_check_reports_a_mismatched_issuer(stack: Stack, tmp_path: Path) -> None:
    host, _, port = stack.domain.partition(":")
    assert host == "localhost"
    done = subprocess.run(
        [sys.executable, "-m", "linker", "check"],
        env=env_for(stack, LINKER_AUTH0_DOMAIN=f"127.0.0.1:{port}"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "LINKER_AUTH0_DOMAIN" in done.stdout
    assert f"'http://127.0.0.1:{port}/'" in done.stdout
    assert f"'http://localhost:{port}/'" in done.stdout
