"""`make bench-own` cannot rot: a tiny run links every flow and leaves the tenant out.

No timing is asserted (the machine is shared); only that a figure is measured, and that the
faked tenant's CPU is not counted in it.
"""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.inprocess import count_instructions, main, run


@pytest.mark.parametrize("confirm", [False, True])
def test_a_tiny_run_links_every_flow_and_measures_linker_alone(confirm: bool) -> None:
    # Each flow asserts its own answers (302, the resume page, "linked"); a failure raises.
    own, outside = asyncio.run(run(5, confirm))
    assert own > 0
    # The tenant signs an RS256 ID token per flow (and the driver two HS256 tokens): that
    # CPU was measured apart, and is more than a signature's worth.
    assert outside > 0.2


def test_the_command_prints_each_tree_with_its_median(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--flows", "3", "--repeats", "1"]) == 0
    printed = capsys.readouterr().out
    assert "linker's own CPU per link flow, in-process, confirm page off, 3 flows:" in printed
    assert "  this tree: median " in printed


def test_the_instruction_count_repeats_whatever_the_machine_does() -> None:
    # What it is for: a before and after that differ by 1% must not drown in the count's
    # own spread. Setup, first calls, the tenant's key and its signatures are all left out.
    first, second = count_instructions(None, 10, False), count_instructions(None, 10, False)
    assert first > 100_000  # a flow's work was counted, not only the loop around it
    assert abs(first - second) / first < 0.005
