"""`linker reconcile` on an operator's bad day: the store lost its pending work (replayed from
the audit file, merged iff linked, `outcome_unknown` included), the store or the tenant is
unreachable (one line, exit 2), work is left (exit 1). Exit status: 0 done, 1 work left, 2 the
store or the tenant unreachable."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from linker.commands import reconcile as reconcile_cli
from linker.steps.reconcile import snapshots_to_replay
from linker.testing import free_port
from tests.service.test_reconcile import link_then_lose
from tests.support.fake_tenant import status
from tests.support.harness import PRIMARY, SECONDARY, Harness, settings_env
from tests.support.httpx_upstream import HttpxUpstream

MERGED = {"theme": "dark", "github": {"handle": "alice"}}


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, harness: Harness) -> Path:
    """`linker reconcile`'s settings in the environment, its calls going to the fake tenant,
    and the service's audit file; the store is a fresh one: it lost everything."""
    monkeypatch.chdir(tmp_path)  # no .env of anyone's
    # A short budget: the command runs on the real clock, and retries a tenant that fails.
    env = settings_env(LINKER_STORE_URL="memory://", LINKER_UPSTREAM_BUDGET="0.3")
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    @contextlib.asynccontextmanager
    async def tenant_client(settings: object) -> AsyncIterator[HttpxUpstream]:
        async with httpx.AsyncClient(transport=harness.tenant.transport()) as client:
            yield HttpxUpstream(client)

    monkeypatch.setattr(reconcile_cli, "upstream_client", tenant_client)
    path = tmp_path / "audit.jsonl"
    harness.runtime.audit.path = path
    return path


def last_line(path: Path) -> dict[str, object]:
    line: dict[str, object] = json.loads(path.read_text().splitlines()[-1])
    return line


async def run(*args: str, capsys: pytest.CaptureFixture[str] | None = None) -> tuple[int, str, str]:
    code = await asyncio.to_thread(reconcile_cli.main, list(args))
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return code, out, err


async def test_an_unknown_outcome_that_linked_is_merged_from_the_audit_file(
    harness: Harness, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link_then_lose(harness, applied=True)
    linked = await harness.link()
    assert (linked.status, linked.error) == ("failed", "outcome_unknown")
    harness.tenant.faults.clear()
    # The attempt line says nothing of the merge: before, replay took it as done.
    attempt = last_line(cli_env)
    assert (attempt["event"], attempt["merge"]) == ("attempt", None)
    code, out, _ = await run("--audit-file", str(cli_env), capsys=capsys)
    assert code == 0, out
    assert out.strip() == "merged 1, not linked 0, waiting 0, failed 0"
    assert harness.tenant.users[PRIMARY]["user_metadata"] == MERGED


async def test_an_unknown_outcome_that_did_not_link_merges_nothing(
    harness: Harness, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link_then_lose(harness, applied=False)
    assert (await harness.link()).error == "outcome_unknown"
    harness.tenant.faults.clear()
    code, out, _ = await run("--audit-file", str(cli_env), capsys=capsys)
    assert code == 0 and "not linked 1" in out
    assert harness.tenant.users[PRIMARY]["user_metadata"] == {"theme": "dark"}
    assert len(harness.tenant.users[PRIMARY]["identities"]) == 1


async def test_a_finished_link_is_not_merged_again(
    harness: Harness, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (await harness.link()).status == "linked"
    patches = harness.tenant.calls["PATCH user"]
    code, out, _ = await run("--audit-file", str(cli_env), capsys=capsys)
    assert (code, out.strip()) == (0, "merged 0, not linked 0, waiting 0, failed 0")
    assert harness.tenant.calls["PATCH user"] == patches


async def test_a_tenant_that_does_not_answer_is_exit_2_and_the_work_left(
    harness: Harness, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.tenant.fail("PATCH user", *[status(503)] * 1000)
    assert (await harness.link()).status == "linked"  # the merge is owed
    harness.tenant.fail("GET user", *[status(503)] * 1000)
    code, out, err = await run("--audit-file", str(cli_env), capsys=capsys)
    assert code == 2 and "failed 1" in out and "tenant could not be reached" in err
    harness.tenant.faults.clear()
    code, out, _ = await run("--audit-file", str(cli_env), capsys=capsys)
    assert code == 0 and "merged 1" in out
    assert harness.tenant.users[PRIMARY]["user_metadata"] == MERGED


async def test_a_merge_the_tenant_refuses_is_work_left_exit_1(
    harness: Harness, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.tenant.fail("PATCH user", *[status(503)] * 1000)
    assert (await harness.link()).status == "linked"
    harness.tenant.faults.clear()
    harness.tenant.fail("PATCH user", *[status(400)] * 1000)
    code, out, _ = await run("--audit-file", str(cli_env), capsys=capsys)
    assert code == 1 and "failed 1" in out


async def test_an_unreadable_audit_file_is_one_line_and_exit_2(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run("--audit-file", str(cli_env.parent / "missing"), capsys=capsys)
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1 and "cannot be read (ENOENT" in err


def test_a_store_that_is_down_is_one_line_and_exit_2(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = {
        "PATH": os.environ.get("PATH", ""),
        **settings_env(LINKER_STORE_URL=f"redis://:hunter2@127.0.0.1:{port}/0"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "linker", "reconcile"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert f"store at redis://127.0.0.1:{port} is unreachable" in done.stderr
    assert "hunter2" not in done.stderr


def test_replay_takes_lines_in_the_order_of_their_time() -> None:
    """A line the file refused for a while reaches it late, after newer lines."""
    base = {"action": "link", "primary": PRIMARY, "secondary": SECONDARY, "connection": "github"}
    snapshot = {
        **base,
        "event": "snapshot",
        "time": "2026-01-01T00:00:01+00:00",
        "secondary_metadata": {"user_metadata": {"a": 1}, "app_metadata": {}},
    }
    done = {**base, "event": "attempt", "merge": "applied", "time": "2026-01-01T00:00:02+00:00"}
    assert snapshots_to_replay([json.dumps(done), json.dumps(snapshot)]) == []
    for merge in (None, "pending"):
        unsettled = {**done, "merge": merge}
        assert len(snapshots_to_replay([json.dumps(unsettled), json.dumps(snapshot)])) == 1
