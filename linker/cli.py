"""`linker serve | check | reconcile | events | action | dev-tenant | demo | stack`: the command
line.

`dev-tenant`, `demo` and `stack` live in the linker-auth0-dev distribution (the `dev` extra);
without it they say how to install it in one line instead of failing with a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from linker.check import (
    Report,
    check_store,
    check_tenant,
    unknown_names,
    unsafe_settings,
    workers_problem,
)
from linker.ops.host_limits import (
    HEADER_TIMEOUT,
    RESERVED_DESCRIPTORS,
    GuardedHttpToolsProtocol,
    default_max_connections,
    raise_open_file_limit,
)
from linker.ops.logs import logging_config
from linker.ops.observability import MULTIPROCESS_DIR
from linker.settings import Settings, SettingsError
from linker.shim import shim_path, shim_source
from linker.state.store_check import inspect_store
from linker.state.store_clock import clock_notes
from linker.steps.delivery import ping as ping_events

DEV_HINT = "is part of linker's development tools: pip install 'linker-auth0[dev]'"

VERBS = {
    "serve": "run the linking service with the settings from the environment and .env",
    "check": "validate every setting, then the tenant: keys, credentials, grant, callback URL",
    "reconcile": "finish pending merges in the shared store now (and replay an audit file's)",
    "events": "list the events waiting for the application's endpoint; replay or discard one; "
    "restore them from the audit file",
    "action": "print the post-login Action (the shim) to deploy to the tenant, or write it out",
    "dev-tenant": "serve a local stand-in for an Auth0 tenant (needs linker-auth0[dev])",
    "demo": "run a dev tenant, linker and a sample app on loopback (needs linker-auth0[dev])",
    "stack": "serve a dev tenant and linker for your app's tests, print URLs and credentials "
    "(needs linker-auth0[dev])",
}


def _parser(verb: str, epilog: str | None = None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=f"linker {verb}",
        description=VERBS[verb][0].upper() + VERBS[verb][1:] + ".",
        epilog=epilog,
    )


def _load_settings() -> Settings | None:
    try:
        return Settings.from_env(Settings.environment())
    except SettingsError as error:
        print(f"linker: bad setting {error}", file=sys.stderr)
        return None


def _whole(raw: str, named: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} ({named}) is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} ({named}) must be at least 1")
    return value


def _workers(raw: str) -> int:
    return _whole(raw, "--workers or $WEB_CONCURRENCY")


def _seconds(raw: str) -> int:
    value = _whole(raw, "seconds")
    if value > 3600:
        raise argparse.ArgumentTypeError("must be at most 3600")
    return value


def _add_workers(parser: argparse.ArgumentParser) -> None:
    # uvicorn would read WEB_CONCURRENCY itself; reading it here lets the store check see it.
    # A text default goes through `type` when the arguments are parsed, so that a bad
    # WEB_CONCURRENCY is argparse's one-line error, not a traceback while building the parser.
    parser.add_argument(
        "--workers",
        type=_workers,
        default=os.environ.get("WEB_CONCURRENCY", "1"),
        help="worker processes (default: $WEB_CONCURRENCY or 1); more than one needs a shared "
        "store, LINKER_STORE_URL=redis://...",
    )


def serve_parser() -> argparse.ArgumentParser:
    parser = _parser(
        "serve",
        "Settings: LINKER_* environment variables (see README.md); `linker check` validates them. "
        "X-Forwarded-For is believed from LINKER_TRUSTED_PROXIES only.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    _add_workers(parser)
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--header-timeout",
        type=_seconds,
        default=HEADER_TIMEOUT,
        help="seconds a connection may take to send a request's headers, and may stay idle "
        f"between requests, before it is closed (default: {HEADER_TIMEOUT})",
    )
    parser.add_argument(
        "--max-connections",
        type=_workers,
        default=None,
        help="connections each worker holds at most; beyond, a new one gets a 503 and is "
        "closed (default: the open-file limit, raised to its hard limit at start, less "
        f"{RESERVED_DESCRIPTORS} kept for the store, the tenant and files)",
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="also log uvicorn's line per request (each link step already logs one line with "
        "its request id, outcome and time)",
    )
    return parser


def uvicorn_options(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """What `linker serve` hands to `uvicorn.run`: each worker builds the app from the
    environment, on uvloop and httptools, logging JSON lines on stderr."""
    return {
        "app": "linker.app:from_environment",
        "factory": True,
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "loop": "asyncio" if sys.platform == "win32" else "uvloop",
        # httptools, with a deadline on each request's head and the connection cap applied
        # as a connection is made (`linker.ops.host_limits`).
        "http": GuardedHttpToolsProtocol,
        "timeout_keep_alive": args.header_timeout,
        "limit_concurrency": args.max_connections,
        "log_level": args.log_level,
        "log_config": logging_config(args.log_level),
        "access_log": args.access_log,
        # X-Forwarded-For is believed only from the proxies named in the settings.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": ",".join(sorted(settings.trusted_proxies)) or None,
        "server_header": False,
    }


def metrics_dir_problem() -> str | None:
    """What is wrong with an operator's `PROMETHEUS_MULTIPROC_DIR`, or None."""
    given = os.environ.get(MULTIPROCESS_DIR)
    if not given or os.path.isdir(given):
        return None
    return f"{MULTIPROCESS_DIR}: {given} is not a directory (the workers write metrics there)"


@contextmanager
def shared_metrics(workers: int) -> Iterator[None]:
    """With several workers, a private directory where each writes its metrics, so that one
    scrape of `/metrics` sums every worker; removed on the way out.

    The workers are started afterwards and inherit `PROMETHEUS_MULTIPROC_DIR` from this
    process's environment, before they import prometheus_client. One worker keeps its
    metrics in memory; a directory the operator named is theirs, used and left as it is."""
    if workers == 1 or os.environ.get(MULTIPROCESS_DIR):
        yield
        return
    directory = tempfile.mkdtemp(prefix="linker-metrics-")  # mode 0700: this user's only
    os.environ[MULTIPROCESS_DIR] = directory
    try:
        yield
    finally:
        os.environ.pop(MULTIPROCESS_DIR, None)
        shutil.rmtree(directory, ignore_errors=True)


def serve(argv: Sequence[str]) -> int:
    """Run the service with uvicorn, logging JSON lines on stderr."""
    args = serve_parser().parse_args(argv)
    settings = _load_settings()
    if settings is None:
        return 2
    problem = workers_problem(settings, args.workers) or metrics_dir_problem()
    if problem is not None:
        print(f"linker: bad setting {problem}", file=sys.stderr)
        return 2
    import uvicorn

    # Descriptors: the soft limit raised to the hard one; connections capped below it.
    open_files, _ = raise_open_file_limit()
    if args.max_connections is None:
        args.max_connections = default_max_connections(open_files)
    # uvicorn applies `log_config` in this process and in every worker; the app installs the
    # redaction itself.
    with shared_metrics(args.workers):
        uvicorn.run(**uvicorn_options(args, settings))
    return 0


def check(argv: Sequence[str]) -> int:
    """One line per problem on stdout; exit 2 for bad settings, 1 for store or tenant
    problems."""
    parser = _parser(
        "check",
        "It writes to the store and runs a script there, connects to the tenant (a refused "
        "connection or the wrong LINKER_TENANT_SCHEME is named at once), reads the OpenID "
        "configuration and signing keys, gets a Management API token (telling bad client "
        "credentials from a missing grant), and checks the companion client's callback URL "
        "(needs read:clients) and grant scopes (read:client_grants, else its own token's "
        "scopes); what it cannot check is noted on stderr. Exit status: 0 all good, 2 a "
        "setting is bad or unknown, 1 the store or the tenant is unreachable or disagrees.",
    )
    _add_workers(parser)
    args = parser.parse_args(argv)
    env = Settings.environment()
    bad = [str(problem) for problem in Settings.problems(env)] + unknown_names(env)
    if not bad:
        problem = workers_problem(Settings.from_env(env), args.workers)
        bad += [] if problem is None else [problem]
    for line in bad:
        print(line)
    if bad:
        return 2
    settings = Settings.from_env(env)
    for line in unsafe_settings(settings):
        print(line, file=sys.stderr)
    report = asyncio.run(_check_deployment(settings))
    report.notes += asyncio.run(clock_notes(settings.store_url.reveal()))
    if settings.events_url is not None:  # a signed ping, answered in one line
        delivered, said = asyncio.run(ping_events(settings, now=time.time()))
        (report.notes if delivered else report.problems).append(said)
    if report.route is not None:
        print(f"note: tenant {settings.auth0_domain} reached {report.route}", file=sys.stderr)
    for note in report.notes:
        print(note, file=sys.stderr)
    for line in report.problems:
        print(line)
    if not report.problems:
        print(f"ok: settings valid, tenant {settings.auth0_domain} answers")
    return 1 if report.problems else 0


async def _check_deployment(settings: Settings) -> Report:
    """The store, then the tenant: every problem of both, each on its own line."""
    store_problems = await check_store(settings)
    report = await check_tenant(settings)
    report.problems[:0] = store_problems
    if not store_problems:  # reachable: one Redis or a cluster, and its eviction policy
        store = await inspect_store(settings)
        report.problems[:0] = store.problems
        report.notes += store.notes
    return report


def action(argv: Sequence[str]) -> int:
    """Print the shim, or write it to a file."""
    parser = _parser(
        "action",
        "Deploy it as a Login / Post Login Action (Node 22) with the secrets LINKER_URL, "
        "LINKER_ACTION_SECRET and LINKER_CLIENT_ID; "
        "the repository's deploy/terraform does it as code.",
    )
    parser.add_argument("--write", type=Path, metavar="PATH", help="write the shim to PATH")
    parser.add_argument("--path", action="store_true", help="print where the shim file is")
    args = parser.parse_args(argv)
    try:
        if args.path:
            print(shim_path())
            return 0
        source = shim_source()
    except OSError as exc:
        print(f"linker action: the shim cannot be read ({exc})", file=sys.stderr)
        return 1
    if args.write is None:
        sys.stdout.write(source)
        return 0
    args.write.write_text(source, encoding="utf-8")
    print(f"linker action: wrote {args.write}", file=sys.stderr)
    return 0


def _dev_verb(verb: str) -> Callable[[list[str]], int] | None:
    """The verb's `main` from linker-auth0-dev, or `None` (with the hint) when not installed."""
    try:
        if verb == "dev-tenant":
            from linker.devtenant.cli import main as dev_tenant

            return dev_tenant
        if verb == "stack":
            from linker.testing.stack_cli import main as stack

            return stack
        from linker.demo.cli import main as demo

        return demo
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("linker."):
            raise
        print(f"linker {verb} {DEV_HINT}", file=sys.stderr)
        return None


def reconcile(argv: Sequence[str]) -> int:
    from linker.commands.reconcile import main as reconcile_main

    return reconcile_main(argv)


def events(argv: Sequence[str]) -> int:
    from linker.commands.events import main as events_main

    return events_main(argv)


def usage() -> str:
    width = max(len(verb) for verb in VERBS)
    lines = [
        "usage: linker COMMAND [options]",
        "",
        "Client-initiated account linking for Auth0. Commands:",
        *(f"  {verb:<{width}}  {text}" for verb, text in VERBS.items()),
        "",
        "`linker COMMAND --help` describes each command.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(usage())
        return 0
    if not args or args[0] not in VERBS:
        print(usage(), file=sys.stderr)
        return 2
    verb, rest = args[0], args[1:]
    commands: dict[str, Callable[[Sequence[str]], int]] = {
        "serve": serve,
        "check": check,
        "action": action,
        "reconcile": reconcile,
        "events": events,
    }
    if verb in commands:
        return commands[verb](rest)
    dev_main = _dev_verb(verb)
    return 2 if dev_main is None else dev_main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
