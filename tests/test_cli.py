"""The command line describes itself, prints the shim, and hints at the dev distribution."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from linker.cli import VERBS, main

ROOT = Path(__file__).resolve().parents[1]
SHIM = ROOT / "deploy" / "action" / "linker-action.js"


def test_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: linker COMMAND")
    for verb, text in VERBS.items():
        assert f"  {verb}" in out and text in out


def test_no_verb_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: linker COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_each_verb_describes_itself(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main([verb, "--help"])
    except SystemExit as exc:  # argparse's --help
        code = int(exc.code or 0)
    assert code == 0
    out = capsys.readouterr().out
    assert f"usage: linker {verb}" in out
    assert len(out.splitlines()) > 3  # a description, not only the usage line


def test_action_prints_the_shim(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["action"]) == 0
    assert capsys.readouterr().out == SHIM.read_text()


def test_action_writes_the_shim(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "linker-action.js"
    assert main(["action", "--write", str(target)]) == 0
    assert target.read_text() == SHIM.read_text()
    assert f"wrote {target}" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["dev-tenant", "demo"])
def test_dev_verbs_without_the_dev_distribution_print_one_hint(verb: str) -> None:
    # As if linker-auth0-dev were not installed: its packages cannot be imported.
    hide = "import sys; sys.modules.update({m: None for m in ('linker.devtenant', 'linker.demo')})"
    run = f"{hide}; from linker.cli import main; raise SystemExit(main([{verb!r}]))"
    done = subprocess.run(
        [sys.executable, "-c", run],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"linker {verb} is part of linker's development tools: pip install 'linker-auth0[dev]'"
    ]
