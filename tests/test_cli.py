"""The command line describes itself, prints the shim, and hints at the dev distribution."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from linker.app import from_environment
from linker.cli import VERBS, main, serve_parser, uvicorn_options
from linker.ops import serving
from linker.ops.logs import JsonFormatter
from linker.ops.observability import MULTIPROCESS_DIR
from tests.support.harness import make_settings, settings_env

ROOT = Path(__file__).resolve().parents[1]
SHIM = ROOT / "deploy" / "action" / "linker-action.js"


def test_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: linker COMMAND")
    for verb, text in VERBS.items():
        assert f"  {verb}" in out and text in out


def test_no_verb_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: linker COMMAND" in capsys.readouterr().err


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_each_verb_describes_itself(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main([verb, "--help"])
    except SystemExit as exc:  # argparse's --help
        code = int(exc.code or 0)
    assert code == 0
    out = capsys.readouterr().out
    assert f"usage: linker {verb}" in out
    assert len(out.splitlines()) > 3  # a description, not only the usage line


def test_action_prints_the_shim(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["action"]) == 0
    assert capsys.readouterr().out == SHIM.read_text()


def test_action_writes_the_shim(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "linker-action.js"
    assert main(["action", "--write", str(target)]) == 0
    assert target.read_text() == SHIM.read_text()
    assert f"wrote {target}" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["dev-tenant", "demo", "stack"])
def test_dev_verbs_without_the_dev_distribution_print_one_hint(verb: str) -> None:
    # As if linker-auth0-dev were not installed: its packages cannot be imported.
    hidden = "('linker.devtenant', 'linker.demo', 'linker.testing')"
    hide = f"import sys; sys.modules.update({{m: None for m in {hidden}}})"
    run = f"{hide}; from linker.cli import main; raise SystemExit(main([{verb!r}]))"
    done = subprocess.run(
        [sys.executable, "-c", run],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"linker {verb} is part of linker's development tools: pip install 'linker-auth0[dev]'"
    ]


# -- linker serve: workers, uvicorn's options, and the shared store they need ---------------


@pytest.fixture
def settings_in_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The environment `linker serve` and `linker check` read (no `.env`, no WEB_CONCURRENCY)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    env = settings_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def uvicorn_runs(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda **options: calls.append(options))
    return calls


def test_serve_parses_workers_and_defaults_to_web_concurrency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    assert serve_parser().parse_args([]).workers == 1
    assert serve_parser().parse_args(["--workers", "4"]).workers == 4
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert serve_parser().parse_args([]).workers == 3


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_serve_refuses_a_worker_count_that_is_not_a_positive_number(
    workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        serve_parser().parse_args(["--workers", workers])
    assert exited.value.code == 2
    assert "--workers" in capsys.readouterr().err


def test_uvicorn_runs_the_factory_on_uvloop_and_httptools() -> None:
    args = serve_parser().parse_args(["--workers", "2", "--port", "9000"])
    options = uvicorn_options(args, make_settings(LINKER_STORE_URL="redis://r:6379/0"))
    assert (options["app"], options["factory"]) == ("linker.app:from_environment", True)
    assert options["loop"] == "uvloop"
    assert issubclass(options["http"], HttpToolsProtocol)  # httptools, guarded
    assert (options["timeout_keep_alive"], options["limit_concurrency"]) == (10, None)
    assert (options["workers"], options["port"]) == (2, 9000)
    assert options["log_config"]["formatters"]["json"]["()"] is JsonFormatter
    # Without trusted proxies, X-Forwarded-For is never believed.
    assert options["proxy_headers"] is False
    # Each link step logs its own line; uvicorn's access line is asked for.
    assert options["access_log"] is False
    assert uvicorn_options(serve_parser().parse_args(["--access-log"]), make_settings())[
        "access_log"
    ]


def test_forwarded_addresses_are_believed_from_the_trusted_proxies_only() -> None:
    settings = make_settings(LINKER_TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.7")
    options = uvicorn_options(serve_parser().parse_args([]), settings)
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == "10.0.0.0/8,192.0.2.7"


def test_serve_refuses_several_workers_over_the_memory_store(
    settings_in_env: dict[str, str],
    uvicorn_runs: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["serve", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "LINKER_STORE_URL" in err and "2 workers need a shared store" in err
    assert uvicorn_runs == []


def test_serve_runs_several_workers_over_a_shared_store(
    settings_in_env: dict[str, str],
    uvicorn_runs: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LINKER_STORE_URL", "redis://127.0.0.1:6379/0")
    assert main(["serve", "--workers", "2"]) == 0
    assert [options["workers"] for options in uvicorn_runs] == [2]


def test_serve_runs_one_worker_over_the_memory_store(
    settings_in_env: dict[str, str], uvicorn_runs: list[dict[str, Any]]
) -> None:
    assert main(["serve"]) == 0
    assert [options["workers"] for options in uvicorn_runs] == [1]


# -- linker serve --workers N: one metrics directory, so that a scrape sums every worker -----


@pytest.fixture
def metrics_dir_at_run(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int] | None]:
    """`PROMETHEUS_MULTIPROC_DIR` as uvicorn (and so each worker it starts) sees it, with
    the directory's permissions."""
    seen: list[tuple[str, int] | None] = []

    def run(**options: Any) -> None:
        given = os.environ.get(MULTIPROCESS_DIR)
        seen.append(None if given is None else (given, stat.S_IMODE(os.stat(given).st_mode)))

    monkeypatch.setattr(uvicorn, "run", run)
    return seen


def test_serve_gives_several_workers_a_private_metrics_directory_and_removes_it(
    settings_in_env: dict[str, str],
    metrics_dir_at_run: list[tuple[str, int] | None],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIR, raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR is read again
    monkeypatch.setenv("LINKER_STORE_URL", "redis://127.0.0.1:6379/0")
    assert main(["serve", "--workers", "2"]) == 0
    ((directory, mode),) = [seen for seen in metrics_dir_at_run if seen is not None]
    assert Path(directory).parent == tmp_path and mode == 0o700
    assert MULTIPROCESS_DIR not in os.environ
    assert list(tmp_path.iterdir()) == []  # the directory went with the server


def test_an_operators_metrics_directory_is_used_and_left_alone(
    settings_in_env: dict[str, str],
    metrics_dir_at_run: list[tuple[str, int] | None],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    theirs = tmp_path / "metrics"
    theirs.mkdir()
    monkeypatch.setenv(MULTIPROCESS_DIR, str(theirs))
    monkeypatch.setenv("LINKER_STORE_URL", "redis://127.0.0.1:6379/0")
    assert main(["serve", "--workers", "2"]) == 0
    assert metrics_dir_at_run == [(str(theirs), stat.S_IMODE(theirs.stat().st_mode))]
    assert theirs.is_dir() and os.environ[MULTIPROCESS_DIR] == str(theirs)


def test_one_worker_keeps_its_metrics_in_memory(
    settings_in_env: dict[str, str],
    metrics_dir_at_run: list[tuple[str, int] | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROCESS_DIR, raising=False)
    assert main(["serve"]) == 0
    assert metrics_dir_at_run == [None]


def test_serve_refuses_a_metrics_directory_that_does_not_exist(
    settings_in_env: dict[str, str],
    metrics_dir_at_run: list[tuple[str, int] | None],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(MULTIPROCESS_DIR, str(tmp_path / "missing"))
    assert main(["serve"]) == 2
    assert f"{MULTIPROCESS_DIR}: {tmp_path / 'missing'} is not a directory" in (
        capsys.readouterr().err
    )
    assert metrics_dir_at_run == []


def test_check_refuses_several_workers_over_the_memory_store(
    settings_in_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "4")  # as the deployment would run `linker serve`
    assert main(["check"]) == 2
    assert capsys.readouterr().out.splitlines() == [
        "LINKER_STORE_URL: 4 workers need a shared store (redis://host:port/db); "
        "memory:// is one process's own"
    ]


def test_each_worker_builds_the_app_from_the_environment(
    settings_in_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settled: list[bool] = []
    monkeypatch.setattr(serving, "settle", lambda: settled.append(True))
    app = from_environment()
    assert settled == [True]  # the worker's collector is set for serving
    assert app.state.runtime.settings.public_url == settings_in_env["LINKER_PUBLIC_URL"]


def test_the_dev_tenants_help_names_the_shim_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from linker.shim import shim_path

    assert main(["dev-tenant", "--help"]) == 0
    helped = "".join(capsys.readouterr().out.split())  # argparse wraps long lines, at hyphens too
    assert f"theshim`linkeraction--path`names,{shim_path()})" in helped


@pytest.mark.parametrize("value", ["0", "auto"])
def test_a_bad_web_concurrency_is_one_line_naming_it(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Some platforms set WEB_CONCURRENCY themselves: a value linker cannot use is argparse's
    error (exit 2), naming it, for `serve` and `check` alike; not a traceback."""
    monkeypatch.setenv("WEB_CONCURRENCY", value)
    for verb in ("serve", "check"):
        with pytest.raises(SystemExit) as stopped:
            main([verb])
        assert stopped.value.code == 2
        assert "$WEB_CONCURRENCY" in capsys.readouterr().err
