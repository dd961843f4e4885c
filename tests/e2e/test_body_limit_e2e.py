"""`linker serve` under large bodies: every route answers 413 and the worker's memory stays
where it was. A few MiB per request here; `make body-flood` sends 1 GiB to each route."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.body_flood import ROUTES, run
from tests.support.harness import settings_env

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


def test_large_bodies_are_refused_without_growing_the_worker(tmp_path: Path) -> None:
    results = run(settings_env(), 32 * MIB, tmp_path / "serve.log")
    assert {(r.method, r.path) for r in results} == set(ROUTES)
    for r in results:
        assert r.status == 413, r
        assert r.sent < 32 * MIB, r  # the server stopped reading long before the end
        assert r.growth_kib < 16 * 1024, r
