"""For every merge mode, each key of the secondary's metadata ends up in the primary or in
the audit line: nothing a link discards is lost."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.harness import PRIMARY, SECONDARY, Harness

SECONDARY_META = {
    "user_metadata": {
        "theme": "light",
        "github": {"handle": "alice", "since": 2015},
        "tags": ["x"],
        "shape": {"a": 1},
    },
    "app_metadata": {"plan": "pro", "limits": {"repos": 10}},
}
PRIMARY_META = {
    "user_metadata": {"theme": "dark", "github": {"handle": "a-l"}, "shape": "flat"},
    "app_metadata": {"plan": "free", "roles": ["reader"]},
}


def leaves(value: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, item in value.items():
        if isinstance(item, dict) and item:
            yield from leaves(item, (*prefix, key))
        else:
            yield (*prefix, key)


def has_path(value: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return False
        value = value[key]
    return True


def conflicts(value: Any, path: tuple[str, ...]) -> bool:
    """True when the primary already holds this path, or a non-object on its way."""
    for key in path:
        if not isinstance(value, dict):
            return True
        if key not in value:
            return False
        value = value[key]
    return True


MODES = [
    {"LINKER_METADATA_MERGE": mode, "LINKER_MERGE_APP_METADATA": app}
    for mode in ("none", "primary-wins", "secondary-wins")
    for app in ("false", "true")
]


@pytest.mark.parametrize("env_overrides", MODES, ids=lambda e: "-".join(e.values()))
async def test_every_secondary_key_is_kept_somewhere(
    harness: Harness, env_overrides: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="linker.audit")
    harness.tenant.users[PRIMARY].update(json.loads(json.dumps(PRIMARY_META)))
    harness.tenant.users[SECONDARY].update(json.loads(json.dumps(SECONDARY_META)))
    assert (await harness.link()).status == "linked"
    primary = harness.tenant.users[PRIMARY]
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "linker.audit"]
    snapshot, line = lines  # the snapshot is written before the link, then the outcome
    assert (snapshot["event"], snapshot["status"]) == ("snapshot", "pending")
    assert snapshot["secondary_metadata"] == SECONDARY_META
    assert line["secondary_metadata"] == SECONDARY_META  # the full snapshot, always
    mode = env_overrides["LINKER_METADATA_MERGE"]
    merged_kinds = {"user_metadata"} | (
        {"app_metadata"} if env_overrides["LINKER_MERGE_APP_METADATA"] == "true" else set()
    )
    for kind, metadata in SECONDARY_META.items():
        for path in leaves(metadata):
            in_primary = has_path(primary[kind], path)
            in_audit = has_path(line["secondary_metadata"][kind], path)
            assert in_primary or in_audit, (kind, path)
            if mode != "none" and kind in merged_kinds and not conflicts(PRIMARY_META[kind], path):
                assert in_primary, (kind, path)  # non-conflicting keys are merged in
    if mode == "none":
        assert primary["user_metadata"] == PRIMARY_META["user_metadata"]
    if "app_metadata" not in merged_kinds:
        assert primary["app_metadata"] == PRIMARY_META["app_metadata"]
    winner = "light" if mode == "secondary-wins" else "dark"
    assert primary["user_metadata"]["theme"] == winner


@pytest.mark.parametrize("env_overrides", [{}])
async def test_audit_file_gets_one_line_per_attempt(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    harness.runtime.audit.path = path
    await harness.link()
    await harness.start(action="unlink")  # refused at the start: still audited
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(x["event"], x["action"], x["status"], x["code"]) for x in lines] == [
        ("snapshot", "link", "pending", None),
        ("attempt", "link", "linked", None),
        ("attempt", "unlink", "denied", "identity_not_linked"),
    ]
    assert lines[1]["secondary_metadata"]["user_metadata"]["github"] == {"handle": "alice"}
    assert {"time", "client_id", "primary", "connection", "ip"} <= set(lines[0])
