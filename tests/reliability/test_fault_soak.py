"""150 complete link flows at 30% faults, crashes included: after reconcile, the tenant holds
exactly what the results said, and the application got one event per link written (`make
soak` runs 1,000 and prints the figures)."""

from __future__ import annotations

import os

from tests.reliability.soak import soak


async def test_every_result_is_true_and_nothing_is_half_done() -> None:
    flows = int(os.environ.get("LINKER_SOAK_FLOWS", "150"))
    report = await soak(flows=flows)
    print("\n" + "\n".join(report.lines()))
    assert report.injected["lost"] > 0 and report.injected["crash"] > 0  # the faults happened
    assert report.statuses["linked"] > flows // 2  # and most flows still linked
    assert report.half_done == 0
    assert report.untrue == 0
    assert report.linked_twice == 0
    assert report.denied == 0
    assert report.links_written == report.events_delivered  # one event per link written
    assert report.events_untrue == 0  # and none for a link that was not
