"""The audit file on a bad day: missing, full, out of descriptors. A commit checks the file
before it claims its attempt and refuses with a retryable 503 (the attempt stays prepared);
once the tenant was written to, the answer is the truth whatever the file does, and the line
the file refused waits in the store until the file takes it."""

from __future__ import annotations

import json
import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from linker.ops.audit import BACKLOG_PREFIX
from linker.state.work import PREFIX as WORK_PREFIX
from tests.support.harness import PRIMARY, SECONDARY, Harness, nested_state, read_resume

MERGED = {"theme": "dark", "github": {"handle": "alice"}}


async def prepared(harness: Harness) -> str:
    resumed = read_resume(await harness.link_callback())
    assert resumed.status == "pending", resumed.result
    return resumed.commit


def linked_identities(harness: Harness) -> int:
    return len(harness.tenant.users[PRIMARY]["identities"])


def failures(harness: Harness) -> float:
    for line in harness.runtime.metrics.render().splitlines():
        if line.startswith("linker_audit_failures_total "):
            return float(line.split()[1])
    return 0.0


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_refused_for_now(answer: httpx.Response) -> None:
    assert answer.status_code == 503
    assert answer.json()["error"] == "upstream_unavailable"
    assert "nothing was changed" in answer.json()["error_description"]


async def test_an_audit_file_that_cannot_be_opened_refuses_the_commit_before_its_claim(
    harness: Harness, tmp_path: Path
) -> None:
    path = tmp_path / "gone" / "audit.jsonl"  # its directory is missing
    harness.runtime.audit.path = path
    commit = await prepared(harness)
    assert_refused_for_now(await harness.commit(commit))
    assert linked_identities(harness) == 1 and harness.tenant.calls["GET user"] == 0
    assert failures(harness) == 1
    path.parent.mkdir()  # the operator fixes it: the same attempt still commits, once
    answer = await harness.commit(commit)
    assert answer.status_code == 200 and answer.json()["status"] == "linked"
    assert [line["event"] for line in lines_of(path)] == ["snapshot", "attempt"]


async def test_a_disk_without_room_refuses_the_commit_before_its_claim(
    harness: Harness, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    harness.runtime.audit.path = path
    harness.runtime.audit.min_free = 2**62  # more than any disk has free
    commit = await prepared(harness)
    assert_refused_for_now(await harness.commit(commit))
    assert linked_identities(harness) == 1
    harness.runtime.audit.min_free = 0
    assert (await harness.commit(commit)).json()["status"] == "linked"


async def test_a_disk_that_fills_after_the_snapshot_line_changes_no_answer(
    harness: Harness, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    audit = harness.runtime.audit
    audit.path = path
    tenant = harness.tenant

    def link_as_the_disk_fills(request: httpx.Request) -> httpx.Response:
        audit.path = Path("/dev/full")  # every write now fails with ENOSPC
        return tenant.answer("POST identities", request)

    tenant.fail("POST identities", link_as_the_disk_fills)
    commit = await prepared(harness)
    answer = await harness.commit(commit)
    assert answer.status_code == 200 and answer.json()["status"] == "linked"  # the truth
    assert tenant.users[PRIMARY]["user_metadata"] == MERGED
    assert (await harness.commit(commit)).json()["status"] == "linked"  # and it stays so
    assert failures(harness) == 1
    store = harness.runtime.attempts.store
    kept = await store.scan(BACKLOG_PREFIX)
    assert len(kept) == 1 and await store.scan(WORK_PREFIX) == []
    assert [line["event"] for line in lines_of(path)] == ["snapshot"]
    # Room again: the next line the file takes brings the kept one with it, in order.
    audit.path = path
    assert (await harness.link("github|2002")).status != "linked"  # no such user: refused
    events = [(line["event"], line["secondary"], line.get("merge")) for line in lines_of(path)]
    assert events[:2] == [("snapshot", SECONDARY, None), ("attempt", SECONDARY, "applied")]
    assert await store.scan(BACKLOG_PREFIX) == []


async def test_a_snapshot_the_file_refuses_writes_nothing_to_the_tenant(harness: Harness) -> None:
    harness.runtime.audit.path = Path("/dev/full")  # opens, and refuses every write
    linked = await harness.link()
    assert (linked.status, linked.error) == ("failed", "upstream_unavailable")
    assert linked_identities(harness) == 1 and harness.tenant.calls["POST identities"] == 0
    assert await harness.runtime.attempts.store.scan(WORK_PREFIX) == []
    kept = await harness.runtime.attempts.store.scan(BACKLOG_PREFIX)
    assert len(kept) == 2  # the snapshot and the attempt, for the file once it has room


async def test_the_background_loop_moves_kept_lines_to_the_file(
    harness: Harness, tmp_path: Path
) -> None:
    harness.runtime.audit.path = Path("/dev/full")
    await harness.link()
    path = tmp_path / "audit.jsonl"
    harness.runtime.audit.path = path
    assert await harness.runtime.audit.flush() == 2
    assert [line["event"] for line in lines_of(path)] == ["snapshot", "attempt"]
    assert await harness.runtime.audit.flush() == 0


async def test_refusals_at_start_and_callback_answer_whatever_the_audit_file_does(
    harness: Harness, tmp_path: Path
) -> None:
    harness.runtime.audit.path = tmp_path / "gone" / "audit.jsonl"
    refused = read_resume(await harness.start(id_token_hint=None))  # the attempt ends at start
    assert (refused.status, refused.error) == ("denied", "missing_id_token_hint")
    started = await harness.start()
    assert started.status_code == 302
    # The nested login is cancelled: the attempt ends at the callback, audited there.
    cancelled = await harness.callback(error="access_denied", state=nested_state(started))
    assert (read_resume(cancelled).status, read_resume(cancelled).error) == ("denied", "cancelled")
    assert failures(harness) == 2
    assert len(await harness.runtime.attempts.store.scan(BACKLOG_PREFIX)) == 2


@contextmanager
def descriptors_exhausted() -> Iterator[None]:
    """This process out of file descriptors (EMFILE), as a host at its open-file limit is."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 4096), hard))
    held: list[int] = []
    try:
        try:
            for _ in range(4096):
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_out_of_descriptors_the_commit_is_refused_and_the_attempt_kept(
    harness: Harness, tmp_path: Path
) -> None:
    harness.runtime.audit.path = tmp_path / "audit.jsonl"
    commit = await prepared(harness)
    with descriptors_exhausted():
        assert_refused_for_now(await harness.commit(commit))
    assert linked_identities(harness) == 1
    assert (await harness.commit(commit)).json()["status"] == "linked"
