"""`linker reconcile`: finish every pending merge in the shared store, now.

With `--audit-file`, it also replays the snapshots of an audit file whose merge was never
written (for a store that lost its pending work). Exit status 0 when nothing is left pending.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from linker.http1 import upstream_client
from linker.reconcile import Report, reconcile, replay, snapshots_to_replay
from linker.settings import Settings, SettingsError


async def _run(settings: Settings, audit_lines: list[str] | None) -> Report:
    from linker.app import build_runtime

    async with upstream_client() as http:
        runtime = build_runtime(settings, http=http)
        try:
            report = await reconcile(runtime, scan=True)
            if audit_lines is not None:
                replayed = await replay(runtime, snapshots_to_replay(audit_lines))
                report.merged += replayed.merged
                report.not_linked += replayed.not_linked
                report.failed += replayed.failed
        finally:
            await runtime.attempts.store.aclose()
    return report


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="linker reconcile",
        description="Finish pending merges in the shared store (LINKER_STORE_URL).",
    )
    parser.add_argument(
        "--audit-file",
        type=Path,
        help="also replay this audit file's snapshots whose merge was never written",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(Settings.environment())
    except SettingsError as error:
        print(f"linker: bad setting {error}", file=sys.stderr)
        return 2
    if settings.store_url.reveal().startswith("memory:") and args.audit_file is None:
        print(
            "linker reconcile: LINKER_STORE_URL is memory://, which no other process shares; "
            "give a redis:// store or --audit-file",
            file=sys.stderr,
        )
        return 2
    lines = None
    if args.audit_file is not None:
        lines = args.audit_file.read_text(encoding="utf-8").splitlines()
    report = asyncio.run(_run(settings, lines))
    print(
        f"merged {len(report.merged)}, not linked {len(report.not_linked)}, "
        f"waiting {len(report.waiting)}, failed {len(report.failed)}"
    )
    return 0 if report.pending == 0 else 1
