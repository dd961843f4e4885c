"""`linker reconcile`: finish every pending merge in the shared store, now.

With `--audit-file`, it also replays the snapshots of an audit file whose merge was never
recorded as written (for a store that lost its pending work): each is settled by reading the
tenant, merged if and only if its link exists.

Exit status: 0 nothing is left pending, 1 work is left (waiting, or refused by the tenant;
run it again later), 2 the store or the tenant could not be reached, or the audit file read
(a bad setting is 2 as well). Each problem is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from linker.ops.audit import reason_of
from linker.runtime import build_runtime
from linker.settings import Settings, SettingsError
from linker.state.store import StoreUnavailable
from linker.steps.reconcile import Report, reconcile, replay, snapshots_to_replay
from linker.tenant.http import upstream_client

DONE, WORK_LEFT, UNREACHABLE = 0, 1, 2


async def _run(settings: Settings, audit_lines: list[str] | None) -> tuple[Report, str | None]:
    """The pass's report, and why the store could not be read (None when it could)."""
    store_down = None
    async with upstream_client(settings) as http:
        runtime = build_runtime(settings, http=http)
        try:
            try:
                report = await reconcile(runtime, scan=True)
            except StoreUnavailable as exc:
                # The audit file does not need the store: its snapshots are still replayed.
                report, store_down = Report(), str(exc) or type(exc).__name__
            if audit_lines is not None:
                report.add(await replay(runtime, snapshots_to_replay(audit_lines)))
        finally:
            await runtime.attempts.store.aclose()
    return report, store_down


def _where(url: str) -> str:
    """The store's scheme, host and port, for a message (never its password)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="linker reconcile",
        description="Finish pending merges in the shared store (LINKER_STORE_URL).",
        epilog="Exit status: 0 nothing left, 1 work left (run it again later), 2 the store or "
        "the tenant unreachable, or the audit file unreadable.",
    )
    parser.add_argument(
        "--audit-file",
        type=Path,
        help="also replay this audit file's snapshots whose merge was never recorded as written",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(Settings.environment())
    except SettingsError as error:
        print(f"linker: bad setting {error}", file=sys.stderr)
        return UNREACHABLE
    store_url = settings.store_url.reveal()
    if store_url.startswith("memory:") and args.audit_file is None:
        print(
            "linker reconcile: LINKER_STORE_URL is memory://, which no other process shares; "
            "give a redis:// store or --audit-file",
            file=sys.stderr,
        )
        return UNREACHABLE
    lines = None
    if args.audit_file is not None:
        try:
            lines = args.audit_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            print(
                f"linker reconcile: the audit file {args.audit_file} cannot be read "
                f"({reason_of(exc)})",
                file=sys.stderr,
            )
            return UNREACHABLE
    report, store_down = asyncio.run(_run(settings, lines))
    if store_down is not None:
        print(
            f"linker reconcile: the store at {_where(store_url)} is unreachable ({store_down}); "
            "its pending work was not read",
            file=sys.stderr,
        )
        if lines is None:
            return UNREACHABLE
    print(report.summary())
    if store_down is not None or report.unreachable:
        if report.unreachable:
            print(
                "linker reconcile: the tenant could not be reached; run it again", file=sys.stderr
            )
        return UNREACHABLE
    return DONE if report.pending == 0 else WORK_LEFT
