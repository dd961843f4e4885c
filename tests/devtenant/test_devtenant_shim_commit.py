"""The shim's commit step, run by the dev tenant in Node: a pending result is confirmed with
`POST /link/commit` from inside the login, and only linker's answer decides the outcome."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from linker.testing import ServerThread, free_port, query_of
from tests.devtenant.conftest import ACTION_SECRET, MakeConfig, MakeDriver
from tests.support.harness import read_hs256

PENDING = {"status": "pending", "identity": {"provider": "github", "user_id": "1001"}}
LINKED = {
    "status": "linked",
    "error": None,
    "error_description": None,
    "identity": {"provider": "github", "user_id": "1001", "connection": "github"},
}


class FakeLinker:
    """Answers `/link/commit` as told, and keeps what the Action sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.answer: dict[str, Any] = LINKED

    async def commit(self, request: Request) -> Response:
        self.received.append(json.loads(await request.body()))
        return JSONResponse(self.answer, status_code=self.status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/link/commit", self.commit, methods=["POST"])])


@pytest.fixture(scope="module")
def linker() -> Iterator[tuple[FakeLinker, str]]:
    fake = FakeLinker()
    with ServerThread(fake.app()) as server:
        yield fake, server.url


@pytest.fixture
def fake(linker: tuple[FakeLinker, str]) -> FakeLinker:
    linker[0].received.clear()
    linker[0].status, linker[0].answer = 200, LINKED
    return linker[0]


async def run_pending(
    make_driver: MakeDriver, make_config: MakeConfig, url: str, **extra: Any
) -> str:
    secrets = {**make_config().action_secrets, "LINKER_URL": url}
    async with make_driver(action_secrets=secrets) as driver:
        driver.clock.now = __import__("time").time()  # the commit token carries real time
        start = await driver.sign_in(
            "google-oauth2|alice",
            scope="openid link_account",
            requested_connection="github",
            id_token_hint="h",
        )
        token = driver.result_token(start, PENDING, iss=url, commit="commit-id-1", **extra)
        back: str = await driver.resume(start, token)
        return back


async def test_a_pending_result_is_committed_and_linkers_answer_decides(
    fake: FakeLinker,
    linker: tuple[FakeLinker, str],
    make_driver: MakeDriver,
    make_config: MakeConfig,
) -> None:
    back = await run_pending(make_driver, make_config, linker[1])
    assert "code=" in back, back
    (body,) = fake.received
    claims = read_hs256(body["commit_token"], ACTION_SECRET)
    assert claims["aud"] == "linker:commit" and claims["linker_v"] == 2
    assert (claims["sub"], claims["commit"]) == ("google-oauth2|alice", "commit-id-1")
    assert claims["exp"] - claims["iat"] == 60 and len(claims["jti"]) == 36
    assert [i["user_id"] for i in claims["user"]["identities"]] == ["alice"]
    assert isinstance(claims["user"]["user_metadata"], dict)
    assert isinstance(claims["user"]["app_metadata"], dict)


@pytest.mark.parametrize("status", [401, 500])
async def test_a_commit_answered_with_an_error_denies_the_login(
    fake: FakeLinker,
    linker: tuple[FakeLinker, str],
    make_driver: MakeDriver,
    make_config: MakeConfig,
    status: int,
) -> None:
    fake.status = status
    back = await run_pending(make_driver, make_config, linker[1])
    assert "error=access_denied" in back and "upstream_unavailable" in back


async def test_an_unreachable_linker_denies_the_login(
    make_driver: MakeDriver, make_config: MakeConfig
) -> None:
    back = await run_pending(make_driver, make_config, f"http://127.0.0.1:{free_port()}")
    assert "error=access_denied" in back and "upstream_unavailable" in back


async def test_a_denial_description_is_cut_and_cleaned(
    fake: FakeLinker,
    linker: tuple[FakeLinker, str],
    make_driver: MakeDriver,
    make_config: MakeConfig,
) -> None:
    fake.answer = {
        "status": "denied",
        "error": "identity_conflict",
        "error_description": 'bad "quote" \\ and\ncontrol é ' + "x" * 300,
    }
    back = await run_pending(make_driver, make_config, linker[1])
    description = query_of(back)["error_description"]
    code, _, text = description.partition(": ")
    assert code == "identity_conflict"
    assert len(text) == 200
    assert text.startswith("bad  quote    and control   x")
