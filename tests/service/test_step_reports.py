"""Each request to a step says once how it ended: one log line and one count, made in one
place (`linker.steps.outcomes.reported`) from what the step reported."""

from __future__ import annotations

import json
import logging

import pytest

from linker.app import STEP_PATHS
from linker.steps.outcomes import reported
from tests.support.harness import Harness

STEPS = set(STEP_PATHS.values())


def step_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "linker"]
    return [(line["event"], line["status"]) for line in lines if line["event"] in STEPS]


async def test_every_request_to_a_step_is_one_line_of_how_it_ended(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="linker")
    linked = await harness.link()
    assert linked.committed is not None and linked.committed.status_code == 200
    await harness.start("not-a-token")
    await harness.callback_page(code="c", state="no-cookie-for-this")
    await harness.commit("whatever", token="not-a-token")
    assert step_lines(caplog) == [
        ("start", "redirect"),
        ("callback", "confirm"),
        ("confirm", "pending"),
        ("commit", "linked"),
        ("start", "dead_end"),
        ("callback", "dead_end"),
        ("commit", "rejected"),
    ]


async def test_a_step_that_raises_leaves_its_line_to_the_edge(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="linker")
    with pytest.raises(RuntimeError), reported(harness.runtime, "start") as report:
        report.ended("redirect", None)
        raise RuntimeError("a bug")
    assert step_lines(caplog) == []


async def test_a_path_that_forgets_to_report_shows_as_unreported(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="linker")
    with reported(harness.runtime, "commit"):
        pass
    assert step_lines(caplog) == [("commit", "unreported")]
    text = (await harness.client.get("/metrics")).text
    assert 'linker_requests_total{code="",status="unreported",step="commit"} 1.0' in text
