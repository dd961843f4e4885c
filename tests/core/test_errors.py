"""linker.core.errors: one error type, its code from the contract, and its status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from linker.core.errors import FAILED_CODES, Code, LinkError

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


@pytest.mark.parametrize("code", list(Code))
def test_every_code_is_failed_or_denied_and_spelled_in_the_message(code: Code) -> None:
    error = LinkError(code, "Try again.")
    assert error.status == ("failed" if code in FAILED_CODES else "denied")
    assert str(error) == f"{code.value}: Try again."
    assert re.fullmatch(r"[a-z_]+", code.value)


def test_faults_are_failed_so_that_users_are_told_to_retry() -> None:
    assert Code.UPSTREAM_UNAVAILABLE in FAILED_CODES
    assert Code.OUTCOME_UNKNOWN in FAILED_CODES
    assert Code.SUB_MISMATCH not in FAILED_CODES


def test_every_code_is_in_the_protocol_table() -> None:
    text = PROTOCOL.read_text()
    missing = [code.value for code in Code if f"`{code.value}`" not in text]
    assert missing == []


def test_every_core_module_has_its_own_unit_test_file() -> None:
    core = PROTOCOL.parents[1] / "linker" / "core"
    tests = Path(__file__).parent
    modules = {p.stem for p in core.glob("*.py") if p.stem != "__init__"}
    assert sorted(m for m in modules if not (tests / f"test_{m}.py").exists()) == []
