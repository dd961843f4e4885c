"""The process-wide settings a serving process gets from `linker.ops.serving.settle`."""

from __future__ import annotations

import gc
import io
import json
import logging
from collections.abc import Iterator

import pytest

from linker.ops import serving
from linker.ops.logs import JsonFormatter
from linker.ops.observability import log_event


@pytest.fixture
def restored() -> Iterator[None]:
    """The test process's own collector and logging settings, back after the test."""
    thresholds = gc.get_threshold()
    flags = (logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    srcfile = logging._srcfile
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    logging.logThreads, logging.logProcesses, logging.logMultiprocessing = flags
    logging._srcfile = srcfile


class Survivor:
    """An object the collector tracks."""


@pytest.mark.usefixtures("restored")
def test_what_exists_is_frozen_and_young_objects_are_collected_less_often() -> None:
    gc.set_threshold(700, 10, 10)
    before = Survivor()
    serving.settle()
    assert gc.get_threshold() == (serving.YOUNG_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 0
    # Frozen objects are out of every generation the collector scans; new ones are not.
    scanned = [id(o) for generation in range(3) for o in gc.get_objects(generation)]
    after = Survivor()
    young = {id(o) for o in gc.get_objects(0)}
    assert id(before) not in scanned and id(after) in young


@pytest.mark.usefixtures("restored")
def test_a_higher_threshold_already_set_is_kept() -> None:
    gc.set_threshold(50_000, 10, 10)
    serving.settle()
    assert gc.get_threshold()[0] == 50_000


@pytest.mark.usefixtures("restored")
def test_records_skip_the_lookups_and_lines_keep_their_shape() -> None:
    serving.settle()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    linker_log = logging.getLogger("linker")
    level = linker_log.level
    linker_log.addHandler(handler)
    linker_log.setLevel(logging.INFO)
    records: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        records.append(record)
        return True

    handler.addFilter(keep)
    try:
        log_event("start", status="redirect", sub="google-oauth2|alice")
    finally:
        linker_log.removeHandler(handler)
        linker_log.setLevel(level)
    (record,) = records
    assert record.thread is None and record.process is None
    assert (record.funcName, record.lineno) == ("(unknown function)", 0)
    line = json.loads(out.getvalue())
    assert (line["event"], line["status"], line["logger"]) == ("start", "redirect", "linker")
