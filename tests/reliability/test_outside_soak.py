"""Complete link flows under faults outside the tenant (the audit file, the store, a skewed
replica, the key set), the tenant's own included: after reconcile and an audit replay, the
tenant holds exactly what the results said (`make soak-outside` runs 1,000 and prints it)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.reliability.outside_soak import outside_soak


async def test_every_result_is_true_whatever_fails_outside_the_tenant(tmp_path: Path) -> None:
    flows = int(os.environ.get("LINKER_OUTSIDE_SOAK_FLOWS", "80"))
    report = await outside_soak(flows=flows, audit_dir=tmp_path)
    print("\n" + "\n".join(report.lines()))
    for fault in ("audit_missing", "audit_full", "audit_fills", "key_rotation"):
        assert report.outside[fault] > 0, fault  # the faults happened
    assert report.statuses["linked"] > flows // 3  # and many flows still linked
    assert report.half_done == 0
    assert report.untrue == 0
    assert report.linked_twice == 0
    assert report.denied == 0
    assert report.server_errors == 0
    assert report.left_pending == 0
