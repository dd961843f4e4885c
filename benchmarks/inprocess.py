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

With `--baseline DIR` (another checkout), each repeat runs DIR's `linker` and then this
tree's, in two child processes, one after the other: a before and after in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

REPO = Path(__file__).resolve().parents[1]


class Excluded:
    """CPU time of this thread spent outside linker, to be left out of the figure."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> None:
        self._began = time.thread_time()

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.thread_time() - self._began


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
    tenant = FakeTenant(key=RSAKey.generate_key(2048, parameters={"kid": "k1"}), clock=clock)

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
            with outside:
                answer = tenant.handle(httpx.Request(method, url, headers=sent, content=body))
                reply = Reply(answer.status_code, answer.headers, answer.read())
            await asyncio.sleep(0)  # a call to the tenant gives the loop up, as I/O does
            return reply

        async def aclose(self) -> None:
            return None

    settings = make_settings(LINKER_CONFIRM_LINK="true" if confirm else "false")
    app = create_app(settings, http=InProcessTenant(), store=MemoryStore(), clock=clock)
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
        with outside:
            user = tenant.add_user(primary, email=f"p{index}@example.com")
            tenant.add_user(secondary, email=f"p{index}@example.com", user_metadata={"plan": 1})
            claims = start_claims(
                now=int(clock()),
                hint=tenant.id_token(sub=primary),
                sub=primary,
                user={k: user[k] for k in ("email", "email_verified", "identities")},
            )
            start = {"session_token": hs256(claims), "state": f"outer-{index}"}
        status, headers, _ = await call("GET", "/link/start", start)
        assert status == 302, status
        with outside:
            location = headers["location"]
            cookie = headers["set-cookie"].split(";", 1)[0]
            code = tenant.login(location, sub=secondary)
            back = {"code": code, "state": query_of(location)["state"]}
        status, _, page = await call("GET", "/link/callback", back, cookie)
        if confirm:
            with outside:
                form = confirm_fields(httpx.Response(status, content=page), "link")
                body = urlencode(form).encode()
            status, _, page = await call("POST", "/link/confirm", {}, cookie, body)
        with outside:
            result = read_resume(httpx.Response(status, content=page)).claims
            commit = hs256(commit_claims(now=int(clock()), commit=result["commit"], primary=user))
            body = json.dumps({"commit_token": commit}).encode()
        status, _, answer = await call("POST", "/link/commit", {}, body=body)
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


def child(tree: Path | None, flows: int, confirm: bool) -> float:
    """One measurement in a fresh process, with `tree`'s linker when given."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), str(REPO)])
    args = [sys.executable, "-m", "benchmarks.inprocess", "--child", "--flows", str(flows)]
    args += ["--confirm", "on" if confirm else "off"]
    out = subprocess.run(  # noqa: S603 (this module, with our own arguments)
        args, env=env, cwd=REPO, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"the measurement failed:\n{out.stderr[-3000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inprocess", description=__doc__)
    parser.add_argument("--flows", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--confirm", choices=["on", "off"], default="off")
    parser.add_argument("--baseline", type=Path, help="another checkout, measured alongside")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    confirm = args.confirm == "on"
    if args.child:
        from linker.ops.logs import configure_logging

        # JSON lines at info, as `linker serve` writes them, to nowhere.
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
        configure_logging("info")
        own, _ = asyncio.run(run(args.flows, confirm))
        print(f"{own:.4f}")
        return 0
    trees: list[Path | None] = [args.baseline.resolve()] if args.baseline else []
    trees.append(None)
    figures: dict[Path | None, list[float]] = {tree: [] for tree in trees}
    for _ in range(args.repeats):
        for tree in trees:
            figures[tree].append(child(tree, args.flows, confirm))
    page = "on" if confirm else "off"
    print(f"linker's own CPU per link flow, in-process, confirm page {page}, {args.flows} flows:")
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


if __name__ == "__main__":
    raise SystemExit(main())
