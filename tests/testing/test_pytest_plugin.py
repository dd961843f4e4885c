"""The pytest plugin as a suite outside linker uses it (run by pytest in a subprocess): the
suite's `linker_stack_config` is what every test starts from, whatever the test before it
posted; without Node the session stops at setup with one line; and it runs under xdist."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CONFTEST = """
import pytest

from linker.testing import AppClient, StackConfig, TenantSeed

pytest_plugins = ["linker.testing.pytest_plugin"]


@pytest.fixture(scope="session")
def linker_stack_config() -> StackConfig:
    seed = TenantSeed()
    seed.add_user(connection="github", user_id="configured", email="c@example.com")
    return StackConfig(
        clients=[AppClient("my-app", secret="s" * 32, callbacks=["http://localhost:9/cb"])],
        seed=seed,
    )
"""

TESTS = """
from linker.testing import Stack


def test_one_posts_a_changed_seed(e2e: Stack) -> None:
    assert e2e.user("github|configured") is not None
    posted = e2e.admin.post(
        "/__admin/seed",
        json={"connections": [{"name": "github", "id": "con_gh", "strategy": "github"}],
              "clients": [], "users": []},
    )
    assert posted.status_code == 200
    assert e2e.user("github|configured") is None and e2e.user("google-oauth2|alice") is None


def test_the_next_sees_the_configured_seed(e2e: Stack) -> None:
    assert e2e.user("github|configured") is not None
    assert e2e.user("google-oauth2|alice") is not None


def test_and_the_next_after_a_seed_of_its_own(e2e: Stack) -> None:
    added = e2e.add_user(connection="github", email="only-here@example.com")
    assert e2e.user(added) is not None


def test_and_the_last_one_too(e2e: Stack) -> None:
    assert [u for u in e2e.admin.get("/__admin/users").json()["users"]
            if u["email"] == "only-here@example.com"] == []
    assert e2e.user("github|configured") is not None
"""


def test_each_test_starts_from_the_configured_seed(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_order=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_the_ini_option_names_a_config_file(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["linker.testing.pytest_plugin"]')
    pytester.makeini("[pytest]\nlinker_stack_config = stack.json\n")
    (pytester.path / "stack.json").write_text(
        '{"clients": [{"client_id": "my-app", "secret": "%s", "callbacks": ["http://h:1/cb"]}],'
        ' "users": [{"connection": "github", "user_id": "from-file"}]}' % ("s" * 32)
    )
    pytester.makepyfile(
        test_file="""
def test_config_from_the_file(e2e):
    assert e2e.user("github|from-file") is not None
    assert e2e.config.allowed_clients == ("my-app",)
"""
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_without_node_the_session_stops_at_setup_with_one_line(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makeconftest('pytest_plugins = ["linker.testing.pytest_plugin"]')
    pytester.makepyfile(test_two="def test_a(e2e):\n    pass\n\ndef test_b(e2e):\n    pass\n")
    empty = tmp_path / "bin"
    empty.mkdir()
    pytester._monkeypatch.setenv("PATH", str(empty))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    said = [line for line in result.outlines if "Node.js" in line]
    assert len(said) == 1, result.outlines
    assert (
        said[0]
        .strip("! ")
        .endswith(
            "linker.testing: Node.js is not on PATH: the dev tenant runs the Action in it; "
            "install Node.js 18 or newer (https://nodejs.org/en/download)"
        )
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not [line for line in result.outlines if "passed" in line or "error" in line]


def test_under_xdist_each_worker_has_its_own_stack(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_workers="""
import pytest
from linker.testing import Stack

@pytest.mark.parametrize("n", range(4))
def test_link(e2e: Stack, n: int) -> None:
    with e2e.browser("my-app") as browser:
        alice = e2e.sign_in(browser, "google-oauth2|alice", client_id="my-app")
        outcome = e2e.link(browser, alice.id_token, "github", "github|1001", client_id="my-app")
    assert outcome.link_result is not None and outcome.link_result["status"] == "linked"
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=4)
