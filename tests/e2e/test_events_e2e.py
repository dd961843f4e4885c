"""Events over real HTTP: the dev tenant runs the shim in Node, linker runs as deployed with
`LINKER_EVENTS_URL` set, and the receiving application verifies every delivery with the
`standardwebhooks` library itself (docs/protocol.md section 9)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from linker.testing import LinkerOptions, ServerThread, StackConfig, run_stack
from linker.testing.stack import Stack
from tests.events.support import EVENTS_SECRET

pytestmark = pytest.mark.e2e

ALICE, GITHUB = "google-oauth2|alice", "github|1001"
FRANK, FRANK_GITHUB = "google-oauth2|frank", "github|1004"


class Application:
    """The receiving application: verifies with the reference library, keeps the payloads."""

    def __init__(self) -> None:
        self.webhook = Webhook(EVENTS_SECRET)
        self.payloads: list[dict[str, object]] = []
        self.server = ServerThread(
            Starlette(routes=[Route("/events", self.receive, methods=["POST"])])
        )

    async def receive(self, request: Request) -> PlainTextResponse:
        body = await request.body()
        self.payloads.append(self.webhook.verify(body, dict(request.headers)))
        return PlainTextResponse("ok")

    def wait_for(self, count: int) -> list[dict[str, object]]:
        deadline = time.monotonic() + 15
        while len(self.payloads) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.payloads) >= count, self.payloads
        return self.payloads


@pytest.fixture(scope="module")
def app_and_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Application, Stack]]:
    application = Application()
    with application.server:
        env = {
            "LINKER_EVENTS_URL": application.server.url + "/events",
            "LINKER_EVENTS_SECRET": EVENTS_SECRET,
        }
        config = StackConfig(linker=LinkerOptions(env=env))
        audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
        with run_stack(config, audit_file=audit) as stack:
            yield application, stack


def test_a_link_and_an_unlink_reach_the_application(
    app_and_stack: tuple[Application, Stack],
) -> None:
    application, stack = app_and_stack
    stack.reset()
    application.payloads.clear()
    with stack.browser() as browser:
        alice = stack.sign_in(browser, ALICE)
        outcome = stack.link(browser, alice.id_token, "github", choose=GITHUB)
    assert outcome.link_result is not None and outcome.link_result["status"] == "linked"
    (linked,) = application.wait_for(1)
    assert linked["type"] == "identity.linked"
    assert linked["data"] == {
        "audit_id": stack.audit_lines()[-1]["audit_id"],
        "primary_user_id": ALICE,
        "former_user_id": GITHUB,
        "connection": "github",
        "provider": "github",
        "provider_user_id": "1001",
    }
    with stack.browser() as browser:
        frank = stack.sign_in(browser, FRANK)
        request, page = stack.start_link(browser, frank.id_token, "github", action="unlink")
        page = browser.submit(browser.form_with(user_id=FRANK))
        outcome = stack.resume(browser, page, request.code_verifier, "demo-app")
    assert outcome.link_result is not None and outcome.link_result["status"] == "unlinked"
    unlinked = application.wait_for(2)[1]
    assert unlinked["type"] == "identity.unlinked"
    assert unlinked["data"]["primary_user_id"] == FRANK  # type: ignore[index]
    assert unlinked["data"]["user_id"] == FRANK_GITHUB  # type: ignore[index]
