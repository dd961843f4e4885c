"""The runner of `make bench-http`: processes, phases, figures.

It measures the crypto bound in-process, starts the tenant, then for each linker
configuration (1 worker with the in-memory store, 1 with Redis; N workers with Redis), with
the page that shows the account before linking on (the default: four hops) and off
(`LINKER_CONFIRM_LINK=false`: the three classic hops, start, callback and commit), starts
`linker serve` and, per phase, a load generator. Around each phase it reads linker's CPU
time from /proc (the server process and its children), linker's `/metrics` histograms (each
step's wall time and its own time on the event loop, summed over the workers) and the tenant's
call counts; the load generator reports flows, failures and its own CPU. N workers also run
the top phase at N times its concurrency, so that each worker carries as many flows at once
as one worker alone: their CPU per flow is then compared with one process's (two workers
sharing 200 flows carry 100 each, and a loop with fewer events per turn costs more per flow).

    python -m benchmarks.http [--phases 1:200,50:500,200:800] [--repeats 3] [--workers 1,2]
                             [--confirm on,off] [--warmup 50] [--baseline DIR]
                             [--baseline-python PYTHON] [--no-per-worker]

With `--baseline DIR` (a checkout of another revision, such as `git archive main | tar -x`),
each configuration runs first with DIR's `linker`, then with this tree's, against the same
tenant in the same run: a before and after that share the machine's moment. With
`--baseline-python PYTHON` (the interpreter of another environment that has linker's
dependencies), the first run serves on that interpreter instead: how much a build of Python
changes CPU per flow (the header names the one this run's own `linker serve` uses).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from benchmarks.http import seed
from benchmarks.http.crypto import CryptoBound
from benchmarks.http.crypto import measure as measure_crypto
from benchmarks.http.measure import (
    LOOP_HISTOGRAM,
    STEPS,
    StepTimes,
    step_times,
    tree_cpu_seconds,
)
from linker.testing import free_port
from tests.support.redis_server import redis_server

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
PHASE_TIMEOUT = 300.0
# Calls the browser makes to the tenant, not linker: shown apart from linker's upstream calls.
BROWSER_CALLS = frozenset({"authorize"})


@dataclass(frozen=True)
class Phase:
    concurrency: int
    flows: int

    @property
    def label(self) -> str:
        return f"c={self.concurrency}"


# Each phase runs `Options.repeats` times: on a shared machine a busy neighbour inflates some
# runs' CPU per flow (the tenant's, the same code every run, moves alike), so the runs' least
# and median figures are printed, as `timeit` reports the best of its repeats.
DEFAULT_PHASES = (Phase(1, 200), Phase(50, 500), Phase(200, 800))


@dataclass(frozen=True)
class Options:
    phases: tuple[Phase, ...] = DEFAULT_PHASES
    workers: tuple[int, ...] = (1, 2)
    confirm: tuple[bool, ...] = (True, False)  # the confirm page on, off
    warmup: int = 50  # flows at concurrency 2 before the phases: first requests, caches
    repeats: int = 3  # runs of each phase
    baseline: Path | None = None  # another checkout, measured before this one
    baseline_python: Path | None = None  # another interpreter, measured before this one
    crypto_rounds: int = 200
    # N workers also run the top phase at N times its concurrency: each worker then carries
    # as many flows at once as one worker does alone, and their CPU per flow compares.
    per_worker: bool = True


@dataclass
class PhaseResult:
    label: str
    concurrency: int
    flows: int
    linked: int
    failures: dict[str, int]
    seconds: float
    linker_cpu_seconds: float
    tenant_cpu_seconds: float
    loadgen_cpu_seconds: float
    server: dict[str, StepTimes]  # wall time per step
    loop: dict[str, StepTimes]  # each step request's own time on the event loop
    server_note: str | None
    client_ms: dict[str, dict[str, float]]
    upstream: dict[str, int]

    @property
    def failed(self) -> int:
        return self.flows - self.linked

    @property
    def flows_per_second(self) -> float:
        return self.linked / self.seconds if self.seconds else 0.0

    @property
    def linker_cpu_ms_per_flow(self) -> float:
        return self.linker_cpu_seconds * 1000 / self.flows

    @property
    def tenant_cpu_ms_per_flow(self) -> float:
        return self.tenant_cpu_seconds * 1000 / self.flows

    @property
    def loadgen_cpu_ms_per_flow(self) -> float:
        return self.loadgen_cpu_seconds * 1000 / self.flows

    def loop_ms_per_flow(self) -> dict[str, float]:
        """Each step's own event-loop time (its requests' CPU on the loop), per flow: the
        steady figure for what one hop costs, as other processes' load does not enter it."""
        return {step: times.total_ms / self.flows for step, times in self.loop.items()}

    def upstream_per_flow(self) -> dict[str, float]:
        return {name: count / self.flows for name, count in sorted(self.upstream.items())}


@dataclass(frozen=True)
class Baseline:
    """What serves in a baseline run: another checkout's `linker` (`tree`), this tree's on
    another interpreter (`python`, whose environment has linker's dependencies), or both."""

    tree: Path | None = None
    python: Path | None = None

    def describe(self) -> str:
        where = [str(self.tree)] if self.tree is not None else []
        where += [f"on {self.python}"] if self.python is not None else []
        return "baseline " + " ".join(where)

    def command(self, port: int, workers: int) -> list[str]:
        return serve_command(port, workers, python=self.python)

    def env(self) -> dict[str, str]:
        """Imported ahead of any installed `linker`: the baseline's tree, else this one."""
        return {"PYTHONPATH": str(self.tree if self.tree is not None else REPO)}


@dataclass
class Configuration:
    workers: int
    store: str
    phases: list[PhaseResult] = field(default_factory=list)
    skipped: str | None = None
    baseline: Baseline | None = None  # what serves in a baseline run; None: this tree
    confirm: bool = True  # LINKER_CONFIRM_LINK

    @property
    def label(self) -> str:
        plural = "worker" if self.workers == 1 else "workers"
        source = f" ({self.baseline.describe()})" if self.baseline is not None else ""
        page = "on" if self.confirm else "off"
        return f"linker serve, {self.workers} {plural}, {self.store} store, confirm {page}{source}"

    @property
    def key(self) -> tuple[int, str, Baseline | None]:
        """What the same configuration with the confirm page on and off share."""
        return self.workers, self.store, self.baseline


@dataclass
class Report:
    machine: dict[str, str]
    crypto: CryptoBound
    configurations: list[Configuration] = field(default_factory=list)


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "CPU": model,
        "nproc": str(len(os.sched_getaffinity(0))),
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "interpreter": interpreter(),
        "load average at start": load,
    }


def interpreter() -> str:
    """Which build of Python runs linker: how it was compiled changes CPU per flow by 10-20%
    (a build with profile-guided optimisation, as Debian's and the official container
    images are, against one without, such as pyenv's default)."""
    try:
        shared = "libpython" in Path("/proc/self/maps").read_text()
    except OSError:
        shared = False
    linked = "libpython loaded as a shared library" if shared else "libpython linked in"
    built = ", ".join(platform.python_build())
    return f"{sys.executable} ({built}; {platform.python_compiler()}; {linked})"


@dataclass
class Stack:
    """The running tenant and linker, and what a phase needs to reach them."""

    tenant_url: str
    tenant_pid: int
    linker_url: str
    linker_pid: int
    secret: str
    http: httpx.Client
    workdir: Path

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU time so far of linker's process tree and of the tenant's."""
        return tree_cpu_seconds(self.linker_pid), tree_cpu_seconds(self.tenant_pid)

    def snapshot_http(self) -> tuple[str, dict[str, int]]:
        metrics = self.http.get(f"{self.linker_url}/metrics").text
        stats: dict[str, int] = self.http.get(f"{self.tenant_url}/_stats").json()
        return metrics, stats


@contextmanager
def process(
    args: Sequence[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path = REPO
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process with its output in `log`, terminated (then killed) on the way out."""
    with log.open("wb") as out:
        child = subprocess.Popen(  # noqa: S603 (our own commands: nothing untrusted)
            args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd
        )
        try:
            yield child
        finally:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def wait_until_up(url: str, child: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{child.args!r} exited with {child.returncode}:\n{tail}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {START_TIMEOUT:.0f} s")


def linker_env(
    tenant_url: str, linker_url: str, secret: str, store: str, confirm: bool = True
) -> dict[str, str]:
    # Only the settings of this run: nothing from the developer's own LINKER_* or .env.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKER_")}
    env.update(
        {
            "LINKER_AUTH0_DOMAIN": tenant_url.removeprefix("http://"),
            "LINKER_TENANT_SCHEME": "http",
            "LINKER_CLIENT_ID": seed.LINKER_CLIENT_ID,
            "LINKER_CLIENT_SECRET": seed.LINKER_CLIENT_SECRET,
            "LINKER_ACTION_SECRETS": secret,
            "LINKER_PUBLIC_URL": linker_url,
            "LINKER_ALLOWED_CLIENT_IDS": seed.APP_CLIENT_ID,
            "LINKER_STORE_URL": store,
            "LINKER_CONFIRM_LINK": "true" if confirm else "false",
            # Above any phase's flows per worker: the kernel spreads the connections of a
            # c=400 phase over two workers unevenly, and what is measured here is CPU per
            # flow, not admission (tests/service/test_admission.py has that).
            "LINKER_MAX_IN_FLIGHT": "1024",
        }
    )
    return env


def serve_command(port: int, workers: int, *, python: Path | None = None) -> list[str]:
    interpreter = str(python) if python is not None else sys.executable
    command = [interpreter, "-m", "linker", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return command + (["--workers", str(workers)] if workers > 1 else [])


def workers_unsupported() -> str | None:
    """Why `linker serve --workers` cannot be used, or None when it can."""
    help_text = subprocess.run(
        [sys.executable, "-m", "linker", "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    ).stdout
    if "--workers" not in help_text:
        return "`linker serve` has no --workers option yet (issue 11 adds it)"
    return None


def run_phase(stack: Stack, phase: Phase, first: int, label: str) -> PhaseResult:
    """One load generator process: flows `first`..`first + phase.flows - 1`."""
    env = {**os.environ, "BENCH_ACTION_SECRET": stack.secret}
    args = [
        sys.executable,
        "-m",
        "benchmarks.http.loadgen",
        *("--linker", stack.linker_url, "--tenant", stack.tenant_url),
        *("--first", str(first), "--flows", str(phase.flows)),
        *("--concurrency", str(phase.concurrency)),
    ]
    log = stack.workdir / f"loadgen-{first}.log"
    with (
        log.open("wb") as errors,
        subprocess.Popen(  # noqa: S603 (our own command, as above)
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
            cwd=REPO,
            text=True,
        ) as child,
    ):
        try:
            ready = _line(child.stdout)
            if "ready" not in ready:
                raise RuntimeError(f"the load generator did not start: {log.read_text()[-2000:]}")
            metrics_before, stats_before = stack.snapshot_http()
            cpu_before = stack.cpu_seconds()
            output, _ = child.communicate("go\n", timeout=PHASE_TIMEOUT)
            linker_cpu, tenant_cpu = (
                b - a for a, b in zip(cpu_before, stack.cpu_seconds(), strict=True)
            )
            metrics_after, stats_after = stack.snapshot_http()
        finally:
            if child.poll() is None:
                child.kill()
    if child.returncode != 0 or not output.strip():
        raise RuntimeError(f"the load generator failed: {log.read_text()[-2000:]}")
    flows: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    server = step_times(metrics_before, metrics_after)
    loop = step_times(metrics_before, metrics_after, LOOP_HISTOGRAM)
    requests: dict[str, int] = flows["requests"]
    note = None
    for times in (server, loop):
        seen = {step: times[step].count if step in times else 0 for step in STEPS}
        if any(seen[step] != requests.get(step, 0) for step in STEPS):
            # A scrape that misses requests (a worker that does not share its metrics) would
            # give percentiles of a part of them: none are shown.
            note = f"/metrics saw {sum(seen.values())} of {sum(requests.values())} requests"
            server, loop = {}, {}
            break
    upstream = {k: v - stats_before.get(k, 0) for k, v in stats_after.items()}
    return PhaseResult(
        label=label,
        concurrency=phase.concurrency,
        flows=phase.flows,
        linked=flows["linked"],
        failures=flows["failures"],
        seconds=flows["seconds"],
        linker_cpu_seconds=linker_cpu,
        tenant_cpu_seconds=tenant_cpu,
        loadgen_cpu_seconds=flows["cpu_seconds"],
        server=server,
        loop=loop,
        server_note=note,
        client_ms=flows["hops_ms"],
        upstream={k: v for k, v in upstream.items() if v},
    )


def _line(stream: IO[str] | None) -> str:
    assert stream is not None
    return stream.readline()


def phases_for(options: Options, workers: int) -> list[tuple[str, Phase]]:
    """The labelled phases `workers` processes run: the common ones, then (with several and
    `per_worker`) the top phase again with as many flows in flight per worker as one has."""
    phases = [(phase.label, phase) for phase in options.phases]
    if workers > 1 and options.per_worker and options.phases:
        top = max(options.phases, key=lambda phase: phase.concurrency)
        scaled = Phase(top.concurrency * workers, top.flows * workers)
        phases.append((f"{scaled.label} ({top.concurrency} per worker)", scaled))
    return phases


def run_configuration(
    config: Configuration,
    options: Options,
    *,
    tenant_url: str,
    tenant_pid: int,
    first: int,
    workdir: Path,
    bound_ms: float,
    out: IO[str],
) -> int:
    """Start linker for `config`, run the warm-up and the phases; returns the next free pair."""
    secret = secrets.token_urlsafe(32)
    port = free_port()
    linker_url = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        store = "memory://"
        if config.store == "redis":
            store = stack.enter_context(redis_server(workdir))
        log = workdir / (
            f"linker-{config.workers}-{config.store}-{'on' if config.confirm else 'off'}"
            f"{'-baseline' if config.baseline else ''}.log"
        )
        env = linker_env(tenant_url, linker_url, secret, store, config.confirm)
        if config.baseline is not None:
            command = config.baseline.command(port, config.workers)
            env.update(config.baseline.env())
        else:
            command = serve_command(port, config.workers)
        child = stack.enter_context(process(command, log=log, env=env, cwd=workdir))
        wait_until_up(f"{linker_url}/healthz", child, log)
        http = stack.enter_context(httpx.Client(timeout=10.0))
        running = Stack(tenant_url, tenant_pid, linker_url, child.pid, secret, http, workdir)
        print(f"\n{config.label}: {' '.join(command[2:])}, log level info", file=out)
        phases = [("warm-up", Phase(2, options.warmup))] if options.warmup else []
        phases += phases_for(options, config.workers)
        for label, phase in phases:
            runs = 1 if label == "warm-up" else options.repeats
            results = []
            for _ in range(runs):
                results.append(run_phase(running, phase, first, label))
                first += phase.flows
            config.phases.extend(results)
            print(format_phase(median_run(results), bound_ms, config.workers), file=out, flush=True)
            if runs > 1:
                print(format_runs(results), file=out, flush=True)
    return first


def median_run(results: Sequence[PhaseResult]) -> PhaseResult:
    """The run whose linker CPU per flow is the median (the lower one of an even count)."""
    ranked = sorted(results, key=lambda r: r.linker_cpu_ms_per_flow)
    return ranked[(len(ranked) - 1) // 2]


def format_runs(results: Sequence[PhaseResult]) -> str:
    """Every run's CPU per flow, linker's and the tenant's, with linker's least and median,
    and linker's CPU per flow in units of the tenant's.

    The tenant runs the same code in every run, and a busy neighbour slows it as it slows
    linker: here, a quarter more CPU per flow from one run to the next moved the ratio by
    about a twentieth. So two revisions measured minutes apart compare by their ratios."""
    linker = [r.linker_cpu_ms_per_flow for r in results]
    tenant = " / ".join(f"{r.tenant_cpu_ms_per_flow:.2f}" for r in results)
    failed = sum(r.failed for r in results)
    line = (
        f"    {len(results)} runs, linker CPU ms/flow: "
        + " / ".join(f"{ms:.2f}" for ms in linker)
        + f" (least {min(linker):.2f}, median {median_run(results).linker_cpu_ms_per_flow:.2f});"
        + f" tenant {tenant}; {failed} failed in all"
    )
    ratios = [r.linker_cpu_seconds / r.tenant_cpu_seconds for r in results if r.tenant_cpu_seconds]
    if len(ratios) == len(results):
        shown = " / ".join(f"{ratio:.2f}" for ratio in ratios)
        line += f"\n      linker/tenant CPU: {shown} (median {statistics.median_low(ratios):.2f})"
    return line


def derived_capacity(result: PhaseResult, workers: int) -> float:
    """Flows per second the workers would carry with a core each: cores / CPU per flow. On
    a machine shared with the tenant and the load generator, measured flows/s say more about
    the neighbours than about linker."""
    cpu = result.linker_cpu_ms_per_flow
    return workers * 1000 / cpu if cpu else 0.0


def format_phase(result: PhaseResult, bound_ms: float | None = None, workers: int = 1) -> str:
    lines = [
        f"  {result.label}: {result.flows} flows, {result.failed} failed, "
        f"{result.flows_per_second:.1f} flows/s measured over {result.seconds:.1f} s; "
        f"derived capacity {derived_capacity(result, workers):.0f} flows/s "
        f"({workers} {'core' if workers == 1 else 'cores'} / CPU per flow)",
        f"    linker CPU {result.linker_cpu_ms_per_flow:.2f} ms/flow"
        + (
            f" = {result.linker_cpu_ms_per_flow / bound_ms:.1f}x the crypto bound"
            if bound_ms
            else ""
        )
        + f"; tenant {result.tenant_cpu_ms_per_flow:.2f}"
        + f", load generator {result.loadgen_cpu_ms_per_flow:.2f}",
    ]
    for kind, per_step in (("wall", result.server), ("loop", result.loop)):
        title = f"    server {kind} ms p50/p99 (/metrics buckets):"
        if per_step:
            hops = "  ".join(
                f"{step} {_ms(times.p50_ms)}/{_ms(times.p99_ms)}"
                for step, times in per_step.items()
            )
            lines.append(f"{title} {hops}")
        else:
            lines.append(f"{title} n/a, {result.server_note}")
    if result.loop:
        lines.append(f"    server loop ms per flow: {format_hops(result)}")
    client = "  ".join(
        f"{hop} {_ms(times.get('p50'))}/{_ms(times.get('p99'))}"
        for hop, times in result.client_ms.items()
        if times
    )
    lines.append(f"    client ms p50/p99 (load generator): {client}")
    upstream = "  ".join(
        f"{name} {per_flow:.2f}"
        for name, per_flow in result.upstream_per_flow().items()
        if name not in BROWSER_CALLS
    )
    lines.append(f"    upstream calls per flow: {upstream or 'none'}")
    if result.failures:
        reasons = ", ".join(f"{reason} x{n}" for reason, n in sorted(result.failures.items()))
        lines.append(f"    failed flows: {reasons}")
    return "\n".join(lines)


def format_hops(result: PhaseResult) -> str:
    """The three classic hops' loop time per flow and their total, the confirm page beside."""
    per_step = result.loop_ms_per_flow()
    classic = [step for step in ("start", "callback", "commit") if step in per_step]
    text = " + ".join(f"{step} {per_step[step]:.2f}" for step in classic)
    text += f" = {sum(per_step[step] for step in classic):.2f} for start, callback, commit"
    if per_step.get("confirm"):
        text += f"; confirm page {per_step['confirm']:.2f} beside"
    return text


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_header(report: Report) -> str:
    lines = ["make bench-http: linker over real HTTP, zero-latency tenant, closed-loop flows"]
    lines += [f"  {name}: {value}" for name, value in report.machine.items()]
    lines.append(f"crypto bound: {report.crypto.per_flow_ms * 1000:.0f} us of CPU per flow")
    lines += [f"  {name}: {us:.0f} us" for name, us in report.crypto.per_op_us.items()]
    return "\n".join(lines)


def run_benchmark(options: Options, out: IO[str] = sys.stdout) -> Report:
    report = Report(machine=machine(), crypto=measure_crypto(options.crypto_rounds))
    print(format_header(report), file=out, flush=True)
    baseline = None
    if options.baseline is not None or options.baseline_python is not None:
        baseline = Baseline(options.baseline, options.baseline_python)
    checkouts = 2 if baseline is not None else 1
    runs_per = checkouts * len(options.confirm)
    pairs = 1 + runs_per * sum(
        options.warmup + options.repeats * sum(phase.flows for _, phase in phases_for(options, w))
        for w, _ in configurations(options.workers)
    )
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        port = free_port()
        tenant_url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "benchmarks.http.tenant", "--port", str(port)]
        log = workdir / "tenant.log"
        tenant = stack.enter_context(process([*command, "--pairs", str(pairs)], log=log))
        wait_until_up(f"{tenant_url}/_stats", tenant, log)
        first = 0
        sources = ([baseline] if baseline is not None else []) + [None]
        runs = [
            (c, b, on)
            for c in configurations(options.workers)
            for b in sources
            for on in options.confirm
        ]
        for (workers, store), source, confirm in runs:
            config = Configuration(workers, store, baseline=source, confirm=confirm)
            report.configurations.append(config)
            if workers > 1 and (reason := workers_unsupported()) is not None:
                config.skipped = reason
                print(f"\n{config.label}: skipped: {reason}", file=out, flush=True)
                continue
            first = run_configuration(
                config,
                options,
                tenant_url=tenant_url,
                tenant_pid=tenant.pid,
                first=first,
                workdir=workdir,
                bound_ms=report.crypto.per_flow_ms,
                out=out,
            )
    print(format_scaling(report), file=out, flush=True)
    return report


def configurations(workers: Sequence[int]) -> list[tuple[int, str]]:
    """One worker on the memory store and on Redis; more workers on Redis (they must share)."""
    made = []
    for count in workers:
        made += [(1, "memory"), (1, "redis")] if count == 1 else [(count, "redis")]
    return made


def format_scaling(report: Report) -> str:
    """Each configuration's derived capacity at the highest concurrency (the median run), the
    Redis configurations' against one process on Redis (the confirm page alike), and what the
    confirm page adds to a flow's CPU (on less off). Several workers are shown twice: sharing
    the top concurrency, and carrying it each (their CPU per flow against one process's)."""
    lines = ["\nderived capacity at the highest concurrency (median run):"]
    base: dict[tuple[bool, Baseline | None], PhaseResult] = {}
    cpu: dict[tuple[tuple[int, str, Baseline | None], bool], float] = {}
    for config in report.configurations:
        if config.skipped or not config.phases:
            continue
        common = [p for p in config.phases if not _per_worker(p)]
        top = max(p.concurrency for p in common)
        runs = [[p for p in common if p.concurrency == top]]
        runs += [scaled] if (scaled := [p for p in config.phases if _per_worker(p)]) else []
        for same in runs:
            result = median_run(same)
            capacity = derived_capacity(result, config.workers)
            if same is runs[0]:
                cpu[config.key, config.confirm] = result.linker_cpu_ms_per_flow
            at = f" at {result.label}" if _per_worker(result) else ""
            line = (
                f"  {config.label}{at}: {result.linker_cpu_ms_per_flow:.2f} ms CPU/flow, "
                f"{result.failed} failed, "
                f"{capacity:.0f} flows/s derived, {result.flows_per_second:.1f} measured"
            )
            one = base.get((config.confirm, config.baseline))
            if config.store == "redis" and config.workers == 1:
                base[config.confirm, config.baseline] = result
            elif config.store == "redis" and one is not None:
                ratio = capacity / derived_capacity(one, 1)
                growth = result.linker_cpu_ms_per_flow / one.linker_cpu_ms_per_flow - 1
                line += f" = {ratio:.2f}x one process on Redis (CPU per flow {growth:+.0%}"
                if result.tenant_cpu_seconds and one.tenant_cpu_seconds:
                    # The tenant runs the same code in both: what its CPU per flow grew by is
                    # the machine's crowding (five busy processes on the cores instead of four).
                    crowding = result.tenant_cpu_ms_per_flow / one.tenant_cpu_ms_per_flow - 1
                    # What is left once the crowding that slows every process alike is taken
                    # out: the growth that sharing the store and the cores' caches adds.
                    own = (1 + growth) / (1 + crowding) - 1
                    line += f"; the tenant's {crowding:+.0%}; in units of the tenant's {own:+.0%}"
                line += ")"
            lines.append(line)
            if result.loop:
                lines.append(f"    loop ms/flow: {format_hops(result)}")
    costs = [
        (key, on - cpu[key, False])
        for (key, confirm), on in cpu.items()
        if confirm and (key, False) in cpu
    ]
    if costs:
        lines.append("the confirm page's CPU per flow (on less off, same configuration):")
        for (workers, store, baseline), ms in costs:
            source = f" ({baseline.describe()})" if baseline is not None else ""
            plural = "worker" if workers == 1 else "workers"
            lines.append(f"  {workers} {plural}, {store} store{source}: {ms:+.2f} ms")
    return "\n".join(lines)


def _per_worker(result: PhaseResult) -> bool:
    """A phase run at the top concurrency times the worker count (see `phases_for`)."""
    return result.label.endswith(" per worker)")


def _switch(text: str) -> bool:
    if text not in ("on", "off"):
        raise SystemExit(f"--confirm: {text!r} is neither on nor off")
    return text == "on"


def _phases(text: str) -> tuple[Phase, ...]:
    pairs = (item.split(":") for item in text.split(",") if item)
    return tuple(Phase(int(c), int(n)) for c, n in pairs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__)
    default = ",".join(f"{p.concurrency}:{p.flows}" for p in DEFAULT_PHASES)
    parser.add_argument("--phases", default=default, help="concurrency:flows, comma-separated")
    parser.add_argument("--workers", default="1,2", help="linker worker counts, comma-separated")
    parser.add_argument(
        "--confirm", default="on,off", help="the confirm page on, off or both (on,off)"
    )
    parser.add_argument("--warmup", type=int, default=Options.warmup, help="warm-up flows")
    parser.add_argument("--repeats", type=int, default=Options.repeats, help="runs of each phase")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout to measure first, in the same run"
    )
    parser.add_argument(
        "--baseline-python",
        type=Path,
        help="another interpreter (of an environment with linker's dependencies) to serve "
        "first, in the same run",
    )
    parser.add_argument(
        "--no-per-worker",
        action="store_true",
        help="several workers share the top phase's concurrency only (no phase at N times it)",
    )
    args = parser.parse_args(argv)
    options = Options(
        phases=_phases(args.phases),
        workers=tuple(int(w) for w in args.workers.split(",")),
        confirm=tuple(_switch(item) for item in args.confirm.split(",") if item),
        warmup=args.warmup,
        repeats=args.repeats,
        baseline=args.baseline.resolve() if args.baseline is not None else None,
        baseline_python=args.baseline_python,
        per_worker=not args.no_per_worker,
    )
    run_benchmark(options)
    return 0
