"""`linker events`: the events waiting in the shared store's outbox, and what to do with a
parked one.

    linker events                 one line per pending and parked event
    linker events replay ID       send a parked event again (it goes to the back of the queue)
    linker events discard ID      remove a parked event for good

`ID` is the event's id (`webhook-id`, as the receiver and linker's logs show it) or its
`audit_id`. Exit status: 0 done, 1 no such event (or not parked), 2 the store is unreachable
or a setting is bad. Each problem is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from linker.core.events import Pending
from linker.settings import Settings, SettingsError
from linker.state.attempts import EVENT_TTL
from linker.state.keys import ALL_EVENT_INDEXES, ALL_PARKED_INDEXES, event_index, parked_index
from linker.state.store import Store, StoreUnavailable, Write, open_store

DONE, NOT_FOUND, UNREACHABLE = 0, 1, 2
# At most this many events of each group are listed.
LIST_LIMIT = 1000


async def _read(store: Store, indexes: Sequence[str]) -> list[tuple[str, Pending]]:
    found = []
    for key in await store.listed(indexes, limit=LIST_LIMIT):
        raw = await store.get(key)
        if raw is not None:
            found.append((key, Pending.loads(raw)))
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


async def _run(settings: Settings, verb: str | None, ident: str) -> int:
    ca_file = str(settings.redis_ca_file) if settings.redis_ca_file else None
    store = open_store(settings.store_url.reveal(), ca_file=ca_file)
    try:
        if verb is None:
            for line in await listing(store):
                print(line)
            return DONE
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
        "or discard a parked one.",
        epilog="Exit status: 0 done, 1 no such parked event, 2 the store is unreachable "
        "or a setting is bad.",
    )
    parser.add_argument("verb", nargs="?", choices=("replay", "discard"))
    parser.add_argument("id", nargs="?", help="the event's id or audit_id")
    args = parser.parse_args(argv)
    if args.verb is not None and not args.id:
        parser.error(f"{args.verb} needs the event's id")
    try:
        settings = Settings.from_env(Settings.environment())
    except SettingsError as error:
        print(f"linker: bad setting {error}", file=sys.stderr)
        return UNREACHABLE
    try:
        return asyncio.run(_run(settings, args.verb, args.id or ""))
    except StoreUnavailable as exc:
        print(
            f"linker events: the store is unreachable ({exc or type(exc).__name__})",
            file=sys.stderr,
        )
        return UNREACHABLE
