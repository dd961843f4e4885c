"""linker's own CPU per link flow, in one process: `make bench-own`.

`make bench-http` measures a whole process over real HTTP, and on a shared machine its
figures move by 10% or more from one run to the next: too much to see a change of a few
percent. Here the app is called through ASGI directly (no server, no sockets) and the tenant
is `tests.support.fake_tenant.FakeTenant`, answered in-process. The CPU the tenant and this
driver spend (signing ID tokens and action tokens, building its requests) is measured
apart and left out. What remains is what linker itself costs per flow: Starlette, the edge
middleware, the steps, the store, joserfc, logging and metrics; not uvicorn's parsing of the
three requests nor aiohttp's five calls to the tenant (`make bench-http` has those).

    python -m benchmarks.inprocess [--flows 400] [--repeats 7] [--confirm on|off] [--baseline DIR]
                                   [--instructions]

With `--baseline DIR` (another checkout), each repeat runs DIR's `linker` and then this
tree's, in two child processes, one after the other: a before and after in one run.

CPU time still moves by 10% or more when the machine's neighbours are busy. With
`--instructions`, callgrind counts the instructions linker itself executes per flow instead
(the tenant and this driver left out, as from the CPU time): the same to about 0.1% from one
run to the next, whatever else runs, so a change of 1% shows. Instructions are not time (a
signature's arithmetic runs many per cycle, the interpreter few), so a count says whether a
change made linker do less, and the CPU time how much that is worth.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


# The instruction count collects only between entering one of these C functions and leaving
# it: `counted` runs a measurement inside `functools.reduce`, `uncounted` runs the work outside
# linker inside `itertools.starmap`, which turns collection off again. Nothing linker runs
# calls either.
COUNTED_IN = ("functools_reduce", "starmap_next")


def counted(work: Callable[[], T]) -> T:
    """`work()`, called from inside `functools.reduce`."""
    done: T = functools.reduce(lambda _, call: call(), (work,), None)
    return done


def uncounted(work: Callable[[], T]) -> T:
    """`work()`, called from inside `itertools.starmap`."""
    return next(itertools.starmap(work, ((),)))


class Excluded:
    """Work outside linker (the tenant, this driver): its CPU time is summed apart, and it
    runs through `uncounted`, so that the instruction count leaves it out too."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def run(self, work: Callable[[], T]) -> T:
        began = time.thread_time()
        try:
            return uncounted(work)
        finally:
            self.seconds += time.thread_time() - began


async def run(flows: int, confirm: bool) -> tuple[float, float]:
    """ms of CPU per flow over `flows` sequential link flows: linker's own, and what was left
    out (the tenant and this driver)."""
    # Imported here: with --baseline, the child's PYTHONPATH picks which linker this is.
    from joserfc.jwk import RSAKey

    from linker.app import create_app
    from linker.ops import serving
    from linker.state.store import MemoryStore
    from linker.tenant.transport import Reply, encode_body
    from linker.testing import FakeClock, query_of
    from tests.support.fake_tenant import FakeTenant
    from tests.support.harness import (
        commit_claims,
        confirm_fields,
        hs256,
        make_settings,
        read_resume,
        start_claims,
    )

    outside = Excluded()
    clock = FakeClock()
    key = outside.run(lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    tenant = FakeTenant(key=key, clock=clock)

    class InProcessTenant:
        """The `Upstream` linker calls: FakeTenant's answers, its CPU left out."""

        async def request(
            self,
            method: str,
            url: str,
            *,
            headers: Mapping[str, str] | None = None,
            form: Mapping[str, str] | None = None,
            json: Any = None,
            limit: float = 10.0,
        ) -> Reply:
            sent, body = encode_body(headers, form, json)  # as linker's own client does

            def answer() -> Reply:
                answer = tenant.handle(httpx.Request(method, url, headers=sent, content=body))
                return Reply(answer.status_code, answer.headers, answer.read())

            reply = outside.run(answer)
            await asyncio.sleep(0)  # a call to the tenant gives the loop up, as I/O does
            return reply

        async def aclose(self) -> None:
            return None

    settings = make_settings(LINKER_CONFIRM_LINK="true" if confirm else "false")
    # The store on the driver's clock too: on the wall clock it swept its expired keys once a
    # second, so a run slowed by a busy machine counted more sweeps (4% once, where the
    # count must repeat to 0.5%); a serving store sweeps once a second over hundreds of flows.
    store = MemoryStore(clock=clock)
    app = create_app(settings, http=InProcessTenant(), store=store, clock=clock)
    serving.settle()

    async def call(
        method: str, path: str, query: dict[str, str], cookie: str = "", body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        headers = [(b"host", b"linker.test"), (b"user-agent", b"bench")]
        if cookie:
            headers.append((b"cookie", cookie.encode()))
        if body:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "https",
            "path": path,
            "raw_path": path.encode(),
            "query_string": urlencode(query).encode(),
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("linker.test", 443),
            "root_path": "",
            "state": {},
        }
        received = False
        answer: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            nonlocal received
            if received:
                await asyncio.Event().wait()
            received = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Mapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
            else:
                answer["body"] += message.get("body", b"")

        await app(scope, receive, send)
        return answer["status"], answer["headers"], answer["body"]

    async def one(index: int) -> None:
        primary, secondary = f"google-oauth2|p{index}", f"github|s{index}"

        def users() -> tuple[dict[str, Any], dict[str, str]]:
            user = tenant.add_user(primary, email=f"p{index}@example.com")
            tenant.add_user(secondary, email=f"p{index}@example.com", user_metadata={"plan": 1})
            claims = start_claims(
                now=int(clock()),
                hint=tenant.id_token(sub=primary),
                sub=primary,
                user={k: user[k] for k in ("email", "email_verified", "identities")},
            )
            return user, {"session_token": hs256(claims), "state": f"outer-{index}"}

        user, start = outside.run(users)
        status, headers, _ = await call("GET", "/link/start", start)
        assert status == 302, status

        def login() -> tuple[str, dict[str, str]]:
            location = headers["location"]
            code = tenant.login(location, sub=secondary)
            cookie = headers["set-cookie"].split(";", 1)[0]
            return cookie, {"code": code, "state": query_of(location)["state"]}

        cookie, back = outside.run(login)
        status, _, page = await call("GET", "/link/callback", back, cookie)
        if confirm:

            def confirmed() -> bytes:
                form = confirm_fields(httpx.Response(status, content=page), "link")
                return urlencode(form).encode()

            choice = outside.run(confirmed)
            status, _, page = await call("POST", "/link/confirm", {}, cookie, choice)

        def commit_body() -> bytes:
            result = read_resume(httpx.Response(status, content=page)).claims
            commit = hs256(commit_claims(now=int(clock()), commit=result["commit"], primary=user))
            return json.dumps({"commit_token": commit}).encode()

        status, _, answer = await call("POST", "/link/commit", {}, body=outside.run(commit_body))
        assert status == 200 and b'"linked"' in answer, answer

    async with app.router.lifespan_context(app):
        for index in range(20):  # first calls: imports, caches, keys
            await one(index)
        outside.seconds = 0.0
        began = time.thread_time()
        for index in range(20, 20 + flows):
            await one(index)
        spent = time.thread_time() - began - outside.seconds
    return spent * 1000 / flows, outside.seconds * 1000 / flows


def child_command(tree: Path | None, flows: int, confirm: bool) -> tuple[list[str], dict[str, str]]:
    """The command of one measurement in a fresh process, with `tree`'s linker when given."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), str(REPO)])
    args = [sys.executable, "-m", "benchmarks.inprocess", "--child", "--flows", str(flows)]
    return [*args, "--confirm", "on" if confirm else "off"], env


def child(tree: Path | None, flows: int, confirm: bool) -> float:
    """One measurement in a fresh process, with `tree`'s linker when given."""
    args, env = child_command(tree, flows, confirm)
    out = subprocess.run(  # noqa: S603 (this module, with our own arguments)
        args, env=env, cwd=REPO, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"the measurement failed:\n{out.stderr[-3000:]}")
    return float(out.stdout.strip().splitlines()[-1])


# Instructions are counted over two runs, of these many flows and of as many more as asked:
# what the larger run executed beyond the smaller one is the extra flows' work, setup and
# first calls left out.
COUNTED_BASE = 5


def count_instructions(tree: Path | None, flows: int, confirm: bool) -> float:
    """linker's own instructions per flow, counted by callgrind: repeatable to a few in ten
    thousand whatever else the machine runs, where CPU time moves by 10% or more.

    Each child runs its whole measurement in `counted` and everything outside linker in
    `uncounted` (`Excluded.run`), so the tenant and this driver are not counted.
    The hash seed is fixed: a dict's collisions, and so its cost, depend on it."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("counting instructions needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="bench-own-") as tmp:
        running = []
        for n in (COUNTED_BASE, COUNTED_BASE + flows):
            args, env = child_command(tree, n, confirm)
            out = Path(tmp) / f"callgrind.{n}"
            command = [valgrind, "--tool=callgrind"]
            command += [f"--toggle-collect={name}" for name in COUNTED_IN]
            command += [f"--callgrind-out-file={out}", *args, "--counted"]
            env["PYTHONHASHSEED"] = "0"
            log = out.with_suffix(".log")
            with log.open("wb") as errors:
                process = subprocess.Popen(  # noqa: S603 (this module, with our own arguments)
                    command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=errors
                )
            running.append((out, log, process))
        totals = []
        for out, log, process in running:
            if process.wait() != 0:
                raise RuntimeError(f"the counted measurement failed:\n{log.read_text()[-3000:]}")
            totals.append(_callgrind_total(out))
    if not totals[0]:
        raise RuntimeError(
            "callgrind counted nothing: this interpreter has no symbol for functools_reduce"
            " (a stripped build)"
        )
    return (totals[1] - totals[0]) / flows


def _callgrind_total(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inprocess", description=__doc__)
    parser.add_argument("--flows", type=int, help="flows measured (400; 40 counted)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--confirm", choices=["on", "off"], default="off")
    parser.add_argument("--baseline", type=Path, help="another checkout, measured alongside")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count linker's own instructions per flow with callgrind instead of timing it",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--counted", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    confirm = args.confirm == "on"
    if args.child:
        from linker.ops.logs import configure_logging

        # JSON lines at info, as `linker serve` writes them, to nowhere.
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
        configure_logging("info")
        measure = functools.partial(asyncio.run, run(args.flows, confirm))
        own, _ = counted(measure) if args.counted else measure()
        print(f"{own:.4f}")
        return 0
    if args.instructions:
        return print_instructions(args.baseline, args.flows or 40, confirm)
    flows = args.flows or 400
    trees: list[Path | None] = [args.baseline.resolve()] if args.baseline else []
    trees.append(None)
    figures: dict[Path | None, list[float]] = {tree: [] for tree in trees}
    for _ in range(args.repeats):
        for tree in trees:
            figures[tree].append(child(tree, flows, confirm))
    page = "on" if confirm else "off"
    print(f"linker's own CPU per link flow, in-process, confirm page {page}, {flows} flows:")
    for tree, runs in figures.items():
        name = f"baseline {tree}" if tree is not None else "this tree"
        shown = " / ".join(f"{ms:.3f}" for ms in runs)
        print(
            f"  {name}: median {statistics.median(runs):.3f} ms, least {min(runs):.3f} ms ({shown})"
        )
    if args.baseline:
        before, after = (statistics.median(figures[tree]) for tree in trees)
        print(f"  this tree against the baseline: {after / before - 1:+.1%}")
    return 0


def print_instructions(baseline: Path | None, flows: int, confirm: bool) -> int:
    trees = ([baseline.resolve()] if baseline is not None else []) + [None]
    counts = {tree: count_instructions(tree, flows, confirm) for tree in trees}
    page = "on" if confirm else "off"
    print(
        f"linker's own instructions per link flow, in-process, confirm page {page}, {flows} flows:"
    )
    for tree, count in counts.items():
        name = f"baseline {tree}" if tree is not None else "this tree"
        print(f"  {name}: {count / 1e6:.3f} M")
    if baseline is not None:
        before, after = counts[trees[0]], counts[None]
        print(f"  this tree against the baseline: {after / before - 1:+.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
