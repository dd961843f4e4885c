"""`make bench-http` cannot rot: the whole harness, with tiny numbers, links every flow.

No timing is asserted (the machine is shared); only that the flows succeed and that every
figure the benchmark prints was measured.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from benchmarks.http.crypto import CryptoBound
from benchmarks.http.measure import LOOP_HISTOGRAM, quantile, step_times
from benchmarks.http.run import (
    REPO,
    Baseline,
    Configuration,
    Options,
    Phase,
    PhaseResult,
    Report,
    format_runs,
    format_scaling,
    median_run,
    run_benchmark,
)


# One worker on the memory store and on Redis; two workers over Redis: /metrics sums both, so
# their step times are shown too. Each with the confirm page on (four hops) and off (three).
@pytest.mark.redis
@pytest.mark.parametrize("workers", [1, 2])
def test_a_tiny_run_links_every_flow_and_measures_each_figure(workers: int) -> None:
    out = io.StringIO()
    phases = (Phase(concurrency=5, flows=20),)
    options = Options(phases=phases, workers=(workers,), warmup=0, repeats=1)
    report = run_benchmark(options, out=out)

    stores = [(c.workers, c.store, c.confirm) for c in report.configurations]
    expected = [(1, "memory"), (1, "redis")] if workers == 1 else [(2, "redis")]
    assert stores == [(w, store, on) for w, store in expected for on in (True, False)]
    for config in report.configurations:
        # Two workers also carry five flows each at once: ten, forty flows in all.
        labels = ["c=5"] + (["c=10 (5 per worker)"] if workers == 2 else [])
        assert [phase.label for phase in config.phases] == labels
        for phase in config.phases:
            check_phase(phase, config.confirm)
    assert report.crypto.per_flow_ms > 0
    printed = out.getvalue()
    assert "c=5: 20 flows, 0 failed" in printed and "x the crypto bound" in printed
    assert f"flows/s ({workers} {'core' if workers == 1 else 'cores'} / CPU per flow)" in printed
    assert "derived capacity at the highest concurrency (median run):" in printed
    assert (
        f"{workers} {'worker' if workers == 1 else 'workers'}, redis store, confirm off:" in printed
    )
    if workers == 2:
        assert "confirm off at c=10 (5 per worker): " in printed
    assert "the confirm page's CPU per flow (on less off, same configuration):" in printed
    # Each hop's own loop time per flow, the three classic hops summed, the confirm page beside.
    assert "= " in printed and " for start, callback, commit; confirm page " in printed
    for config in report.configurations:
        phase = config.phases[0]
        per_step = phase.loop_ms_per_flow()
        assert all(ms > 0 for ms in per_step.values())
        assert ("confirm" in per_step) is config.confirm
    for kind in ("wall", "loop"):
        assert f"server {kind} ms p50/p99 (/metrics buckets): start " in printed


def check_phase(phase: PhaseResult, confirm: bool) -> None:
    flows = phase.flows
    assert (phase.linked, phase.failures) == (flows, {})
    assert phase.linker_cpu_seconds > 0 and phase.loadgen_cpu_seconds > 0
    assert phase.flows_per_second > 0
    # Each flow: one code exchange, then GET secondary, POST identities, and the merge's
    # fresh read of the primary (a second GET) and PATCH.
    for endpoint in ("token:authorization_code", "identities:post", "users:patch"):
        assert phase.upstream[endpoint] == flows, endpoint
    assert phase.upstream["users:get"] == 2 * flows
    for times in (phase.server, phase.loop):
        hops = (
            ["start", "callback", "confirm", "commit"]
            if confirm
            else ["start", "callback", "commit"]
        )
        counts = {step: t.count for step, t in times.items() if t.count}
        assert counts == dict.fromkeys(hops, flows)
        assert all(t.p50_ms is not None and t.p50_ms > 0 for t in times.values())


@pytest.mark.redis
def test_a_baseline_checkout_is_measured_first_in_the_same_run() -> None:
    out = io.StringIO()
    # This tree as its own baseline, on this interpreter named as another: the harness is
    # what is tested, not a revision or a build of Python.
    python = Path(sys.executable)
    options = Options(
        phases=(Phase(concurrency=2, flows=5),),
        workers=(1,),
        confirm=(True,),
        warmup=0,
        repeats=1,
        baseline=REPO,
        baseline_python=python,
    )
    report = run_benchmark(options, out=out)
    # Each store in turn, the baseline first.
    first = Baseline(tree=REPO, python=python)
    trees = [(c.store, c.baseline) for c in report.configurations]
    assert trees == [("memory", first), ("memory", None), ("redis", first), ("redis", None)]
    assert [p.linked for c in report.configurations for p in c.phases] == [5, 5, 5, 5]
    label = f"linker serve, 1 worker, memory store, confirm on (baseline {REPO} on {python})"
    assert label in out.getvalue()
    assert f"interpreter: {sys.executable} (" in out.getvalue()


def test_a_baseline_serves_its_tree_on_its_interpreter() -> None:
    other = Baseline(python=Path("/opt/python/bin/python3"))
    assert other.command(8000, 2)[:3] == ["/opt/python/bin/python3", "-m", "linker"]
    assert other.command(8000, 2)[-2:] == ["--workers", "2"]
    assert other.env() == {"PYTHONPATH": str(REPO)}  # this tree, on the other interpreter
    assert other.describe() == "baseline on /opt/python/bin/python3"
    checkout = Baseline(tree=Path("/src/before"))
    assert checkout.command(8000, 1)[0] == sys.executable
    assert checkout.env() == {"PYTHONPATH": "/src/before"}
    assert checkout.describe() == "baseline /src/before"


def ran(linker_ms: float, tenant_ms: float, failed: int = 0) -> PhaseResult:
    """A phase of 100 flows that cost linker and the tenant these ms of CPU each."""
    return PhaseResult(
        label="c=1",
        concurrency=1,
        flows=100,
        linked=100 - failed,
        failures={"timeout": failed} if failed else {},
        seconds=1.0,
        linker_cpu_seconds=linker_ms / 10,
        tenant_cpu_seconds=tenant_ms / 10,
        loadgen_cpu_seconds=0.1,
        server={},
        loop={},
        server_note=None,
        client_ms={},
        upstream={},
    )


def test_repeated_runs_print_each_figure_with_the_least_and_the_median() -> None:
    runs = [ran(3.4, 2.6), ran(2.6, 2.0, failed=1), ran(2.9, 2.2), ran(2.7, 2.1)]
    assert median_run(runs) is runs[3]  # 2.6, 2.7, 2.9, 3.4: the lower middle
    assert format_runs(runs) == (
        "    4 runs, linker CPU ms/flow: 3.40 / 2.60 / 2.90 / 2.70 (least 2.60, median 2.70);"
        " tenant 2.60 / 2.00 / 2.20 / 2.10; 1 failed in all"
        "\n      linker/tenant CPU: 1.31 / 1.30 / 1.32 / 1.29 (median 1.30)"
    )


def test_quantiles_interpolate_within_a_bucket_as_prometheus_does() -> None:
    buckets = {0.001: 0.0, 0.002: 50.0, 0.005: 100.0, float("inf"): 100.0}
    assert quantile(buckets, 0.5) == 0.002
    assert quantile(buckets, 0.25) == 0.0015
    assert quantile({0.001: 0.0, float("inf"): 0.0}, 0.5) is None
    assert quantile({0.001: 0.0, float("inf"): 4.0}, 0.5) == 0.001  # beyond the last bound


def test_step_times_are_what_a_phase_added_between_two_scrapes() -> None:
    def scrape(fast: int, slow: int) -> str:
        lines = ["# TYPE linker_request_seconds histogram"]
        for le, value in (("0.001", fast), ("0.01", fast + slow), ("+Inf", fast + slow)):
            lines.append(f'linker_request_seconds_bucket{{le="{le}",step="commit"}} {value}')
        lines.append(f'linker_request_seconds_count{{step="commit"}} {fast + slow}')
        lines.append(f'linker_request_seconds_sum{{step="commit"}} {0.001 * (fast + slow)}')
        return "\n".join(lines) + "\n"

    times = step_times(scrape(10, 0), scrape(10, 4))["commit"]
    assert times.count == 4
    assert times.total_ms == pytest.approx(4.0)  # the _sum the phase added: 4 x 1 ms
    assert times.p50_ms is not None and 1.0 < times.p50_ms < 10.0

    # The loop-time histogram is read by its own name, apart from the wall-time one.
    def as_loop(text: str) -> str:
        return text.replace("linker_request_seconds", LOOP_HISTOGRAM)

    both = scrape(10, 4) + as_loop(scrape(0, 1))
    assert step_times(as_loop(scrape(10, 0)), as_loop(scrape(10, 4)), LOOP_HISTOGRAM) == {
        "commit": times
    }
    assert step_times("", both)["commit"].count == 14
    assert step_times("", both, LOOP_HISTOGRAM)["commit"].count == 1


def test_a_second_process_s_growth_is_printed_beside_the_machine_s_crowding() -> None:
    one = Configuration(1, "redis", phases=[ran(2.5, 1.25)], confirm=False)
    # CPU per flow +32% with the second process, the tenant's own +20% in the same runs.
    two = Configuration(2, "redis", phases=[ran(3.3, 1.5)], confirm=False)
    report = Report(machine={}, crypto=CryptoBound({}), configurations=[one, two])
    line = format_scaling(report).splitlines()[-1]
    assert "linker serve, 2 workers, redis store, confirm off: 3.30 ms CPU/flow" in line
    assert line.endswith(
        "= 1.52x one process on Redis (CPU per flow +32%; the tenant's +20%;"
        " in units of the tenant's +10%)"
    )
