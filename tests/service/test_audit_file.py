"""The audit file holds users' metadata: it is created readable by its owner only."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from linker.ops.audit import Audit, AuditRecord


async def test_a_new_audit_file_is_created_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    old_umask = os.umask(0)  # even a permissive umask must not widen it
    try:
        await Audit(path).write(AuditRecord(action="link", status="linked"), when=0.0)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["status"] == "linked"


async def test_lines_are_appended_and_an_existing_mode_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("")
    path.chmod(0o640)  # the operator's choice, e.g. for a log shipper's group
    audit = Audit(path)
    await audit.write(AuditRecord(action="link"), when=0.0)
    await audit.write(AuditRecord(action="unlink"), when=1.0)
    assert [json.loads(line)["action"] for line in path.read_text().splitlines()] == [
        "link",
        "unlink",
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
