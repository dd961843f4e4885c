"""`run_stack` serves your own client: its id and callback, users added by the config or by
one test, linker's settings from the config with `env=` winning; a test's changes end at
`reset`; and what cannot start says so in one line."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from linker.testing import (
    AppClient,
    LinkerOptions,
    Stack,
    StackConfig,
    StartError,
    TenantSeed,
    run_stack,
)

pytestmark = pytest.mark.e2e

ALICE = "google-oauth2|alice"  # alice@example.com, verified, in the bundled seed
CALLBACK = "http://localhost:9/my-app/callback"  # the browser stops there


def my_config() -> StackConfig:
    seed = TenantSeed()
    seed.add_user(
        connection="github", user_id="alice-work", email="alice@example.com", email_verified=True
    )
    return StackConfig(
        clients=[
            AppClient("my-app", secret="my-app-secret-0123456789-0123456789", callbacks=[CALLBACK])
        ],
        seed=seed,
        linker=LinkerOptions(require_same_email=True),
    )


@pytest.fixture(scope="module")
def mine() -> Iterator[Stack]:
    # env= wins over the config: other-app is allowed too (and the call does not fail).
    with run_stack(my_config(), env={"LINKER_ALLOWED_CLIENT_IDS": "my-app,other-app"}) as stack:
        yield stack


@pytest.fixture
def my_stack(mine: Stack) -> Iterator[Stack]:
    mine.reset()
    yield mine
    mine.rewind()


def test_your_client_links_a_user_the_config_added(my_stack: Stack) -> None:
    with my_stack.browser("my-app") as browser:
        alice = my_stack.sign_in(browser, ALICE, client_id="my-app")
        outcome = my_stack.link(
            browser, alice.id_token, "github", "github|alice-work", client_id="my-app"
        )
    assert outcome.link_result is not None and outcome.link_result["status"] == "linked"
    assert my_stack.identities(ALICE) == [ALICE, "github|alice-work"]
    assert browser.history[-1] == f"POST {my_stack.tenant_url}/continue"
    assert outcome.page.headers["location"].startswith(CALLBACK + "?code=")


def test_the_same_email_rule_of_the_config_refuses_a_user_added_by_the_test(
    my_stack: Stack,
) -> None:
    other = my_stack.add_user(connection="github", email="mallory@example.com", email_verified=True)
    with my_stack.browser("my-app") as browser:
        alice = my_stack.sign_in(browser, ALICE, client_id="my-app")
        outcome = my_stack.link(browser, alice.id_token, "github", other, client_id="my-app")
    assert outcome.code == "email_mismatch"
    assert my_stack.identities(ALICE) == [ALICE]


def test_env_wins_over_the_config(my_stack: Stack) -> None:
    with my_stack.browser("other-app") as browser:
        alice = my_stack.sign_in(browser, ALICE, client_id="other-app")
        outcome = my_stack.link(
            browser, alice.id_token, "github", "github|alice-work", client_id="other-app"
        )
    assert outcome.link_result is not None and outcome.link_result["status"] == "linked"


def test_reset_drops_what_a_test_changed(my_stack: Stack) -> None:
    added = my_stack.add_user(connection="github", email="temp@example.com")
    assert my_stack.user(added) is not None
    assert my_stack.linker_store is not None
    with my_stack.browser("my-app") as browser:
        alice = my_stack.sign_in(browser, ALICE, client_id="my-app")
        my_stack.start_link(browser, alice.id_token, "github", client_id="my-app")
    assert asyncio.run(my_stack.linker_store.scan("txn:"))  # an attempt under way
    my_stack.admin.post("/__admin/reset")  # as a suite in another language resets
    assert my_stack.user(added) is None
    assert my_stack.user("github|alice-work") is not None  # the configured seed is back
    assert asyncio.run(my_stack.linker_store.scan("txn:")) == []


# -- what cannot start ---------------------------------------------------------------------


def test_a_port_that_cannot_be_bound_is_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(StartError, match=f"cannot listen on 127.0.0.1:{port}"),
            run_stack(linker_port=port),
        ):
            pass


def test_no_node_stops_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StartError) as raised, run_stack():
        pass
    assert str(raised.value) == (
        "Node.js is not on PATH: the dev tenant runs the Action in it; "
        "install Node.js 18 or newer (https://nodejs.org/en/download)"
    )


def test_a_node_too_old_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    node = tmp_path / "node"
    node.write_text("#!/bin/sh\necho v16.20.2\n")
    node.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(StartError) as raised, run_stack():
        pass
    assert str(raised.value) == (
        f"Node.js v16.20.2 at {node} is too old; "
        "install Node.js 18 or newer (https://nodejs.org/en/download)"
    )
