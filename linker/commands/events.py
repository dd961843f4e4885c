"""`linker events`: the events waiting in the shared store's outbox, and what to do with a
parked one.

    linker events                 one line per pending and parked event
    linker events replay ID       send a parked event again (it goes to the back of the queue)
    linker events discard ID      remove a parked event for good
    linker events restore FILE [--since TIME]
                                  make again the events of the writes the audit file FILE
                                  records since TIME (default: 7 days ago), for a store that
                                  lost its outbox

`ID` is the event's id (`webhook-id`, as the receiver and linker's logs show it) or its
`audit_id`. A restored event has the id it had the first time (both come from the audit
line's `audit_id`), so a receiver that already has it keeps it once; restoring twice records
each event once. Exit status: 0 done, 1 no such event (or not parked) or no such file, 2 the
store is unreachable or a setting is bad. Each problem is one line on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from linker.core.events import Event, Pending, from_audit
from linker.settings import Settings, SettingsError
from linker.state.attempts import EVENT_TTL
from linker.state.keys import (
    ALL_EVENT_INDEXES,
    ALL_PARKED_INDEXES,
    event_index,
    parked_index,
    restored_event_key,
)
from linker.state.store import Store, StoreUnavailable, Write, open_store

DONE, NOT_FOUND, UNREACHABLE = 0, 1, 2
# At most this many events of each group are listed.
LIST_LIMIT = 1000
# An audit line longer than this (metadata of a megabyte) is not read: it is no line of ours.
MAX_AUDIT_LINE = 1024 * 1024
RESTORE_DAYS = 7  # as long as the store keeps a pending merge


async def _read(store: Store, indexes: Sequence[str]) -> list[tuple[str, Pending]]:
    found = []
    for key in await store.listed(indexes, limit=LIST_LIMIT):
        raw = await store.get(key)
        if raw is None:
            continue
        try:
            found.append((key, Pending.loads(raw)))
        except (ValueError, KeyError, TypeError):  # a later release's, as delivery leaves it
            print(f"note: {key} is not an event this release reads; left as it is", file=sys.stderr)
    return found


def _line(state: str, pending: Pending) -> str:
    event = pending.event
    when = datetime.fromtimestamp(event.time, UTC).isoformat(timespec="seconds")
    text = f"{state:<7} {event.id}  {event.type}  {event.user_id}  {when}"
    if pending.failures:
        text += f"  failures={pending.failures} last={pending.reason}"
    if pending.next_at and not pending.parked:
        text += "  next=" + datetime.fromtimestamp(pending.next_at, UTC).isoformat("T", "seconds")
    return text


async def listing(store: Store) -> list[str]:
    """One line per pending event, then per parked one."""
    pending = [_line("pending", p) for _, p in await _read(store, ALL_EVENT_INDEXES)]
    parked = [_line("parked", p) for _, p in await _read(store, ALL_PARKED_INDEXES)]
    return pending + parked


async def _parked(store: Store, ident: str) -> tuple[str, Pending] | None:
    for key, pending in await _read(store, ALL_PARKED_INDEXES):
        if ident in (pending.event.id, pending.event.audit_id):
            return key, pending
    return None


async def replay(store: Store, ident: str) -> bool:
    """Queue a parked event again, its failures forgotten; False when none is parked so."""
    found = await _parked(store, ident)
    if found is None:
        return False
    key, pending = found
    again = replace(pending, failures=0, next_at=0.0, reason="", parked=False)
    await store.record(
        [Write(key, again.dumps(), EVENT_TTL, index=event_index(key))],
        unlist=(parked_index(key), key),
    )
    return True


async def discard(store: Store, ident: str) -> bool:
    """Remove a parked event; False when none is parked so."""
    found = await _parked(store, ident)
    if found is None:
        return False
    await store.delete(found[0], index=parked_index(found[0]))
    return True


def audit_lines(path: Path) -> Iterator[str]:
    """The file's lines, each read at most `MAX_AUDIT_LINE` characters at a time: a longer one
    is skipped whole, never held."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        while line := lines.readline(MAX_AUDIT_LINE + 1):
            if len(line) <= MAX_AUDIT_LINE or line.endswith("\n"):
                yield line
                continue
            while line and not line.endswith("\n"):  # the rest of the long line
                line = lines.readline(MAX_AUDIT_LINE)


def restorable(lines: Iterable[str], since: float) -> list[Event]:
    """The events of the finished writes the lines record since `since`, oldest first."""
    made = []
    for line in lines:
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue
        event = from_audit(entry) if isinstance(entry, dict) else None
        if event is not None and event.time >= since:
            made.append(event)
    made.sort(key=lambda event: event.time)
    return made


async def restore(store: Store, made: Sequence[Event]) -> tuple[int, int]:
    """Record each event in the outbox, unless it was restored before; (recorded, there)."""
    recorded = there = 0
    for event in made:
        key = restored_event_key(event.user_id, event.audit_id)
        if await store.get(key) is not None:
            there += 1
            continue
        await store.record([Write(key, Pending(event).dumps(), EVENT_TTL, index=event_index(key))])
        recorded += 1
    return recorded, there


async def _restore(store: Store, path: Path, since: float) -> int:
    try:
        made = restorable(audit_lines(path), since)
    except OSError as exc:
        print(f"linker events: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return NOT_FOUND
    recorded, there = await restore(store, made)
    print(f"events restored from {path}: {recorded} ({there} restored before)")
    return DONE


async def _run(settings: Settings, verb: str | None, ident: str, since: float = 0.0) -> int:
    ca_file = str(settings.redis_ca_file) if settings.redis_ca_file else None
    store = open_store(settings.store_url.reveal(), ca_file=ca_file)
    try:
        if verb is None:
            for line in await listing(store):
                print(line)
            return DONE
        if verb == "restore":
            return await _restore(store, Path(ident), since)
        done = await (replay(store, ident) if verb == "replay" else discard(store, ident))
    finally:
        await store.aclose()
    if not done:
        print(f"linker events: no parked event {ident[:80]}", file=sys.stderr)
        return NOT_FOUND
    print(f"{'replayed' if verb == 'replay' else 'discarded'} {ident}")
    return DONE


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="linker events",
        description="List the events waiting in the shared store (LINKER_STORE_URL); replay "
        "or discard a parked one; restore the events an audit file records.",
        epilog="Exit status: 0 done, 1 no such parked event, 2 the store is unreachable "
        "or a setting is bad.",
    )
    parser.add_argument("verb", nargs="?", choices=("replay", "discard", "restore"))
    parser.add_argument(
        "id", nargs="?", help="the event's id or audit_id; for restore, the audit file"
    )
    parser.add_argument(
        "--since",
        type=_moment,
        help=f"restore: writes from this time on (ISO 8601; default {RESTORE_DAYS} days ago)",
    )
    args = parser.parse_args(argv)
    if args.verb is not None and not args.id:
        parser.error(
            f"{args.verb} needs the {'audit file' if args.verb == 'restore' else 'event id'}"
        )
    since = args.since if args.since is not None else time.time() - RESTORE_DAYS * 86400
    try:
        settings = Settings.from_env(Settings.environment())
    except SettingsError as error:
        print(f"linker: bad setting {error}", file=sys.stderr)
        return UNREACHABLE
    try:
        return asyncio.run(_run(settings, args.verb, args.id or "", since))
    except StoreUnavailable as exc:
        print(
            f"linker events: the store is unreachable ({exc or type(exc).__name__})",
            file=sys.stderr,
        )
        return UNREACHABLE


def _moment(text: str) -> float:
    """`--since`: a date or a time in ISO 8601; without an offset, UTC."""
    try:
        moment = datetime.fromisoformat(text[:40])
    except ValueError:
        raise argparse.ArgumentTypeError("give a date or time such as 2026-12-07T09:00Z") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
