"""`linker check`'s look at the shared store: it connects, runs one script as the service
would, and says what it found: one Redis, the primary Sentinels name, or a cluster (with the
hash slots it saw), and each primary's eviction policy. A policy that can evict linker's keys
is a problem: Redis would drop attempts and pending merges to make room, and an evicted work
item is a merge nobody owes any more. Run `noeviction` with a `maxmemory` (see docs/operations.md).
"""

from __future__ import annotations

import secrets

from linker.check import Report
from linker.settings import Settings
from linker.state.store import RedisStore, StoreUnavailable, open_store

HASH_SLOTS = 16384


async def inspect_store(settings: Settings) -> Report:
    report = Report()
    ca_file = str(settings.redis_ca_file) if settings.redis_ca_file else None
    store = open_store(settings.store_url.reveal(), ca_file=ca_file)
    if not isinstance(store, RedisStore):  # memory://: nothing to reach
        await store.aclose()
        return report
    try:
        tag = secrets.token_urlsafe(6)
        # One script, as a commit runs it, on keys of one slot that nothing else uses.
        await store.put(f"check:{{{tag}}}a", "1", 5)
        await store.claim(f"check:{{{tag}}}a", f"check:{{{tag}}}b", "checked", 5)
        await store.delete(f"check:{{{tag}}}b")  # nothing of the check's is left behind
    except StoreUnavailable as exc:
        await store.aclose()
        report.problems.append(f"LINKER_STORE_URL: the store cannot be used ({exc})")
        return report
    try:
        nodes = await store.nodes()
    except StoreUnavailable as exc:  # an ACL user without INFO: the rest is not known
        nodes = []
        report.notes.append(
            f"note: the store's maxmemory-policy could not be read ({exc}); make sure it is "
            "noeviction"
        )
    finally:
        await store.aclose()
    if store.clustered:
        slots = store.slots_seen()
        report.notes.append(
            f"note: store is a Redis Cluster: {len(nodes)} primaries, {slots} of "
            f"{HASH_SLOTS} hash slots served"
        )
        if slots < HASH_SLOTS:
            report.problems.append(
                f"LINKER_STORE_URL: the cluster serves {slots} of {HASH_SLOTS} hash slots"
            )
    elif store.sentinel is not None:
        report.notes.append(
            f"note: store is the Redis primary the Sentinels name {store.sentinel!r}, followed "
            "when they fail it over"
        )
    else:
        report.notes.append("note: store is one Redis (not a cluster)")
    for node in nodes:
        if node.evicts:
            report.problems.append(
                f"LINKER_STORE_URL: Redis {node.node} has maxmemory-policy {node.policy}, which "
                "can evict pending attempts and merges; set noeviction"
            )
        elif node.maxmemory == 0:
            report.notes.append(
                f"note: Redis {node.node} has no maxmemory: a flood can fill the host's memory"
            )
    return report
