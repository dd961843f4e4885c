"""The collector settings a serving process gets from `linker.heap.settle`."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from linker import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """The test process's own collector settings, back after the test."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class Survivor:
    """An object the collector tracks."""


@pytest.mark.usefixtures("restored_gc")
def test_what_exists_is_frozen_and_young_objects_are_collected_less_often() -> None:
    gc.set_threshold(700, 10, 10)
    before = Survivor()
    heap.settle()
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 0
    # Frozen objects are out of every generation the collector scans; new ones are not.
    scanned = [id(o) for generation in range(3) for o in gc.get_objects(generation)]
    after = Survivor()
    young = {id(o) for o in gc.get_objects(0)}
    assert id(before) not in scanned and id(after) in young


@pytest.mark.usefixtures("restored_gc")
def test_a_higher_threshold_already_set_is_kept() -> None:
    gc.set_threshold(50_000, 10, 10)
    heap.settle()
    assert gc.get_threshold()[0] == 50_000
