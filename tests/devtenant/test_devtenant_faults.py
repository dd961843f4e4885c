"""Fault injection and the request log, in process and (for a dropped connection) on a socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from linker.devtenant import create_dev_tenant
from tests.devtenant.conftest import Driver, MakeConfig

LINK = {"provider": "github", "user_id": "1001"}
IDENTITIES = r"^/api/v2/users/[^/]+/identities$"


async def add_fault(driver: Driver, **rule: Any) -> None:
    response = await driver.http.post("/__admin/faults", json=rule)
    assert response.status_code == 201, response.text


async def link(driver: Driver, token: str, **kwargs: Any) -> httpx.Response:
    return await driver.api(
        "POST", "users/google-oauth2|alice/identities", token=token, json=LINK, **kwargs
    )


async def identity_posts(driver: Driver) -> int:
    log = await driver.http.get("/__admin/requests", params={"method": "POST", "path": IDENTITIES})
    count: int = log.json()["count"]
    return count


async def test_status_fault_answers_without_handling(driver: Driver) -> None:
    token = await driver.management_token()
    await add_fault(driver, method="POST", path=IDENTITIES, kind="status", status=503, times=1)
    failed = await link(driver, token)
    assert failed.status_code == 503
    assert failed.json()["statusCode"] == 503
    assert (await driver.api("GET", "users/github|1001", token=token)).status_code == 200
    assert (await link(driver, token)).status_code == 201  # times=1: spent
    log = (await driver.http.get("/__admin/requests", params={"path": IDENTITIES})).json()
    assert [(e["status"], e["fault"]) for e in log["requests"]] == [(503, "status"), (201, None)]
    assert await identity_posts(driver) == 2


async def test_rate_limit_fault_has_auth0_headers(driver: Driver) -> None:
    token = await driver.management_token()
    await add_fault(driver, method="GET", path="^/api/v2/users/", kind="rate_limit", retry_after=7)
    response = await driver.api("GET", "users/google-oauth2|alice", token=token)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.headers["x-ratelimit-limit"] == "2"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-reset"] == str(int(driver.clock()) + 7)
    # No `times`: it keeps firing until cleared.
    assert (await driver.api("GET", "users/google-oauth2|alice", token=token)).status_code == 429
    await driver.http.delete("/__admin/faults")
    assert (await driver.api("GET", "users/google-oauth2|alice", token=token)).status_code == 200


async def test_latency_fault_delays_then_handles(driver: Driver) -> None:
    token = await driver.management_token()
    await add_fault(driver, method="POST", path=IDENTITIES, kind="latency", delay=0.3, times=1)
    started = time.monotonic()
    response = await link(driver, token)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 201


async def test_latency_fault_times_out_a_client_before_the_change(driver: Driver) -> None:
    token = await driver.management_token()
    await add_fault(driver, method="POST", path=IDENTITIES, kind="latency", delay=1.0, times=1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(link(driver, token), 0.2)
    assert (await driver.api("GET", "users/github|1001", token=token)).status_code == 200


async def test_latency_after_makes_the_change_then_stalls(driver: Driver) -> None:
    token = await driver.management_token()
    await add_fault(
        driver, method="POST", path=IDENTITIES, kind="latency_after", delay=1.0, times=1
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(link(driver, token), 0.3)
    # The client gave up, yet the link happened: the outcome was unknown, not a failure.
    alice = await driver.api("GET", "users/google-oauth2|alice", token=token)
    assert [i["user_id"] for i in alice.json()["identities"]] == ["alice", "1001"]
    assert await identity_posts(driver) == 1


async def test_drop_in_process_is_a_transport_error(driver: Driver) -> None:
    token = await driver.management_token()
    await add_fault(driver, method="POST", path=IDENTITIES, kind="drop", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await link(driver, token)
    assert (await driver.api("GET", "users/github|1001", token=token)).status_code == 200


@contextlib.asynccontextmanager
async def served(app: ASGIApp) -> AsyncIterator[str]:
    """The app on a real loopback socket, for faults that are about the wire."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):  # uvicorn offers no event for "listening"
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_drop_over_a_socket_closes_the_connection(make_config: MakeConfig) -> None:
    app = create_dev_tenant(make_config())
    async with served(app) as base, httpx.AsyncClient(base_url=base) as http:
        rule = {"method": "GET", "path": "^/userinfo$", "kind": "drop", "times": 1}
        assert (await http.post("/__admin/faults", json=rule)).status_code == 201
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/userinfo")
        assert (await http.get("/userinfo")).status_code == 401  # spent: handled again
        discovery = await http.get("/.well-known/openid-configuration")
        assert discovery.json()["issuer"] == "http://127.0.0.1:8700/"


async def test_bad_fault_rules_are_refused(driver: Driver) -> None:
    for rule in (
        {"kind": "explode"},
        {"kind": "status", "path": "("},
        {"kind": "status", "times": 0},
    ):
        response = await driver.http.post("/__admin/faults", json=rule)
        assert response.status_code == 400, rule
    assert (await driver.http.get("/__admin/faults")).json() == {"faults": []}


async def test_admin_is_not_faulted_nor_logged(driver: Driver) -> None:
    await add_fault(driver, path="", kind="status", status=500)
    assert (await driver.http.get("/__admin/faults")).status_code == 200
    assert (await driver.http.get("/.well-known/jwks.json")).status_code == 500
    log = (await driver.http.get("/__admin/requests")).json()
    assert [e["path"] for e in log["requests"]] == ["/.well-known/jwks.json"]
