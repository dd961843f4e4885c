"""Two `linker serve` replicas over a three-primary Redis Cluster, behind a round-robin
balancer: a flow's start, callback and commit land on alternate replicas, and it links."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linker.testing import FakeClock, ServerThread, free_port
from linker.testing.stack import Stack, linker_env, stack_tenant
from tests.e2e.test_crash_recovery_e2e import serve
from tests.support.redis_cluster import redis_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

ALICE, GITHUB = "google-oauth2|alice", "github|1001"
HOST = "127.0.0.1"
HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "host"}


def balancer(backends: list[str], seen: list[tuple[str, str]]) -> Starlette:
    """Each request to the next backend in turn, as a round-robin load balancer does."""
    turn = itertools.cycle(backends)

    async def forward(request: Request) -> Response:
        backend = next(turn)
        seen.append((request.url.path, backend))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.request(
                request.method,
                backend + request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                headers=headers,
                content=await request.body(),
            )
        kept = [(k, v) for k, v in answer.headers.multi_items() if k.lower() not in HOP_BY_HOP]
        response = Response(answer.content, status_code=answer.status_code)
        response.raw_headers = [(k.encode(), v.encode()) for k, v in kept] + [
            (b"content-length", str(len(answer.content)).encode())
        ]
        return response

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])


@pytest.fixture
def two_replicas(tmp_path: Path) -> Iterator[tuple[Stack, list[tuple[str, str]]]]:
    tenant_port, public_port = free_port(HOST), free_port(HOST)
    tenant_url, public_url = f"http://{HOST}:{tenant_port}", f"http://{HOST}:{public_port}"
    backends = [f"http://{HOST}:{free_port(HOST)}" for _ in range(2)]
    seen: list[tuple[str, str]] = []
    (tmp_path / "cluster").mkdir()
    with (
        redis_cluster(tmp_path / "cluster") as cluster,
        ServerThread(stack_tenant(tenant_url, public_url), host=HOST, port=tenant_port),
        ServerThread(balancer(backends, seen), host=HOST, port=public_port),
    ):
        env = linker_env(
            tenant_url,
            public_url,
            PATH=os.environ.get("PATH", "/usr/bin:/bin"),
            LINKER_STORE_URL=cluster.url,
        )
        replicas: list[subprocess.Popen[bytes]] = []
        try:
            for backend in backends:
                replicas.append(serve(env, tmp_path, backend))
            stack = Stack(tenant_url, public_url, FakeClock(real_time=True), tmp_path / "a.jsonl")
            yield stack, seen
            stack.admin.close()
        finally:
            for replica in replicas:
                replica.terminate()
                replica.wait(timeout=10)


def test_a_flow_across_two_replicas_over_a_cluster_links(
    two_replicas: tuple[Stack, list[tuple[str, str]]],
) -> None:
    stack, seen = two_replicas
    with stack.browser() as browser:
        alice = stack.sign_in(browser, ALICE)
        seen.clear()
        outcome = stack.link(browser, alice.id_token, "github", choose=GITHUB)
    assert outcome.link_result is not None and outcome.link_result["status"] == "linked"
    assert stack.identities(ALICE) == [ALICE, GITHUB]
    steps = {path: backend for path, backend in seen if path.startswith("/link/")}
    # Each step on the other replica than the one before: every hop reads what the other wrote.
    order = ["/link/start", "/link/callback", "/link/confirm", "/link/commit"]
    assert set(steps) == set(order)
    assert all(steps[a] != steps[b] for a, b in itertools.pairwise(order))
