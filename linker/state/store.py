"""Where attempts wait between the steps: a small key-value store with expiry.

Two implementations of one protocol: `MemoryStore` for a single process, `RedisStore` to share
attempts between replicas. The operations are the few the protocol needs, each atomic:
put (optionally only if new), get, take (read and delete at once), claim (take one key, if its
value begins as expected, and write another in the same step), replace (delete one key and
write another), put_tracked (write a key and list it in an index bounded to its newest live
keys), and record (several writes, each optionally listed, with one key deleted and one listing
dropped: the step that records an outcome with its event, `linker.steps.delivery`). `put`, `replace`
and `delete` can also keep a key listed in an index, which `listed` reads: background work is
found through its indexes, never by scanning the keyspace. `linker.state.attempts` gives them their
meaning. In Redis each of these is one command (a script where it has several steps): every
command costs the replica CPU of its own.

On a Redis Cluster every key one operation touches must live in one hash slot: the keys that
go together share a hash tag (`{...}`, see `tagged`), and each script declares every key it
touches. `redis+cluster://` and `rediss+cluster://` URLs select the cluster client.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClusterDownError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)
from redis.exceptions import (
    ConnectionError as RedisConnectionError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

from linker.core.errors import Signal
from linker.state.redis_batch import Batcher


class StoreUnavailable(Signal):
    """The shared store could not be reached."""


class StoreFull(StoreUnavailable):
    """The memory store holds as many live entries as it may: new ones are refused."""


class NoRoom(StoreFull):
    """The store is filled to the share new attempts may use: a new attempt is refused, and
    the room left is kept for the attempts already under way."""


# The share of the store new attempts may fill. An attempt's start writes two entries (its
# start token's `jti` and its transaction) and finishing it needs at most one more at a time
# (its work item: the prepared attempt replaces the transaction, the outcome the prepared
# attempt), so starts that stop at two thirds leave room for every attempt they began.
START_SHARE = 2 / 3


@dataclass(frozen=True)
class Write:
    """One key `record` writes: `value` for `ttl` seconds (None: only if the key is there,
    and it keeps its TTL), and with an `index`, the key is listed last in it."""

    key: str
    value: str
    ttl: float | None
    index: str = ""


class Store(Protocol):
    async def put(
        self,
        key: str,
        value: str,
        ttl: float,
        *,
        only_new: bool = False,
        index: str = "",
        starting: bool = False,
    ) -> bool:
        """Store `value` for `ttl` seconds; with `only_new`, only if `key` is absent. With an
        `index` (`only_new` aside), `key` is listed in it in the same step. A write that
        starts a new attempt (`starting`) is refused (`NoRoom`) once the store is filled to
        `START_SHARE`: the rest is kept for the attempts already under way."""

    async def get(self, key: str) -> str | None: ...

    async def take(self, key: str) -> str | None:
        """Read and delete `key` at once: of two concurrent takes, one gets the value."""

    async def claim(
        self,
        key: str,
        marker_key: str,
        marker: str,
        ttl: float,
        *,
        if_starts_with: str = "",
        holder: tuple[str, str] = ("", ""),
    ) -> str | None:
        """Take `key` and put `marker` at `marker_key`, in one step, if its value starts with
        `if_starts_with`. Returns the value found: one that starts otherwise stays where it is.

        With a `holder` (a key and a token no other caller has), the value taken is also kept
        at that key for `ttl`, under the token: asked again by the same holder once the value is
        gone, the claim answers it again. A claim whose answer was lost is asked again so."""

    async def replace(self, old: str, key: str, value: str, ttl: float, *, index: str = "") -> None:
        """Delete `old` (and its listing in `index`) and put `value` at `key` for `ttl`
        seconds, in one step."""

    async def record(
        self, writes: Sequence[Write], *, delete: str = "", unlist: tuple[str, str] = ("", "")
    ) -> None:
        """Every write of `writes`, `delete` deleted, and the listing `unlist[1]` dropped from
        the index `unlist[0]`, in one step. A listing goes after every listing made before it
        in its index, whatever the clocks (so an index is in the order its steps ran)."""

    async def put_tracked(
        self,
        key: str,
        value: str,
        ttl: float,
        *,
        index: str,
        keep: int,
        index_ttl: float,
        starting: bool = False,
    ) -> list[str]:
        """Put `value` at `key` and list `key` last in `index`, in one step (`starting`: as
        for `put`).

        The index keeps only the keys still there (taken, deleted or expired ones leave it),
        and only the newest `keep` of them: the older ones are deleted, and returned. The index
        lives `index_ttl` seconds from its last write.
        """

    async def spend(self, key: str, *, burst: int, per_second: float) -> bool:
        """Take one token from the bucket at `key` (holding `burst` at most, refilled at
        `per_second`); False when it is empty. A new bucket is a new attempt's write: refused
        (`NoRoom`) as `put(starting=True)` is."""

    async def delete(self, key: str, *, index: str = "") -> None:
        """Delete `key`, and its listing in `index`."""

    async def listed(self, indexes: Sequence[str], *, limit: int) -> list[str]:
        """The keys listed in `indexes`, the oldest first, at most `limit` of each (whether
        or not they are still there: the reader deletes a missing one's listing)."""

    async def scan(self, prefix: str) -> list[str]:
        """Every live key that starts with `prefix` (slow on a large store: for the command
        line, not for work done often)."""

    async def ping(self) -> bool: ...

    async def now(self) -> float:
        """The store's own clock, in seconds since the epoch: the time every replica shares
        (Redis `TIME`), against which each host's offset is measured
        (`linker.state.store_clock`)."""

    async def aclose(self) -> None: ...


SWEEP_SECONDS = 1.0


# Between a claim's holder token and the value it took, at the holder's key.
_HELD = "\n"


class MemoryStore:
    """In-process store, bounded: expired entries go first; when full, new keys are refused.

    Nothing live is ever evicted to make room: an attacker who fills the store gets refusals,
    and every attempt already under way finishes.
    """

    def __init__(self, *, max_entries: int = 50_000, clock: Callable[[], float] = time.time):
        # Values are kept as UTF-8 bytes: 16 bytes less per entry than a str.
        self._entries: dict[str, tuple[float, bytes]] = {}
        # One queue of keys per TTL: in each, insertion order is expiry order, so expired
        # keys leave from the front at O(1) each, at 8 bytes a key (a heap row costs 64).
        self._expiry: dict[int, deque[str]] = {}
        # Per index: [expiry, member, member, ...], one list and no tuple (one per user).
        self._indexes: dict[str, list[Any]] = {}
        # Indexes of background work: key -> when it was listed (few: work is rare).
        self._listings: dict[str, dict[str, float]] = {}
        self._max = max_entries
        self._clock = clock
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1].decode()

    def _drop_expired(self, now: float) -> None:
        for ttl, queue in list(self._expiry.items()):
            while queue:
                entry = self._entries.get(queue[0])
                if entry is not None and entry[0] > now:
                    break
                if entry is not None:
                    del self._entries[queue[0]]
                queue.popleft()
            if not queue:
                del self._expiry[ttl]
        if len(self._indexes) > self._max:
            for name in [n for n, row in self._indexes.items() if row[0] <= now]:
                del self._indexes[name]

    @property
    def fill(self) -> float:
        """The share of the bound in use."""
        return len(self._entries) / self._max

    def _write(self, key: str, value: str, ttl: float, *, starting: bool = False) -> None:
        now = self._clock()
        # Expired keys are swept at most once a second (a sweep visits every TTL's queue),
        # and always before a new key is refused; reads check each key's exact expiry.
        if now >= self._next_sweep or len(self._entries) >= self._max:
            self._drop_expired(now)
            self._next_sweep = now + SWEEP_SECONDS
        if starting and len(self._entries) >= self._max * START_SHARE:
            if now < self._next_sweep:  # expired entries may still hold the room: swept first
                self._drop_expired(now)
                self._next_sweep = now + SWEEP_SECONDS
            if len(self._entries) >= self._max * START_SHARE:
                raise NoRoom("the memory store has no room for new attempts")
        if key not in self._entries and len(self._entries) >= self._max:
            raise StoreFull("the memory store is full")
        self._entries[key] = (now + ttl, value.encode())
        # Queued by whole seconds: TTLs computed from a token's `exp` differ in every call,
        # and one queue each would make every write scan them all. Within a second, a key
        # may leave its queue up to a second late; reads check the exact expiry.
        self._expiry.setdefault(math.ceil(ttl), deque()).append(key)

    async def put(
        self,
        key: str,
        value: str,
        ttl: float,
        *,
        only_new: bool = False,
        index: str = "",
        starting: bool = False,
    ) -> bool:
        if only_new and self._live(key) is not None:
            return False
        self._write(key, value, ttl, starting=starting)
        if index:
            self._listings.setdefault(index, {})[key] = self._clock()
        return True

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def take(self, key: str) -> str | None:
        value = self._live(key)
        self._entries.pop(key, None)
        return value

    async def claim(
        self,
        key: str,
        marker_key: str,
        marker: str,
        ttl: float,
        *,
        if_starts_with: str = "",
        holder: tuple[str, str] = ("", ""),
    ) -> str | None:
        value = self._live(key)
        held_at, token = holder
        if value is not None and value.startswith(if_starts_with):
            # Deleted first, so the marker always has room: a full store refuses nothing here.
            del self._entries[key]
            self._write(marker_key, marker, ttl)
            if held_at:  # in one process no answer is lost: kept only while there is room
                with contextlib.suppress(StoreFull):
                    self._write(held_at, token + _HELD + value, ttl)
        elif value is None and held_at:
            held = self._live(held_at)
            if held is not None and held.startswith(token + _HELD):
                return held[len(token) + len(_HELD) :]
        return value

    async def replace(self, old: str, key: str, value: str, ttl: float, *, index: str = "") -> None:
        # As in `claim`: when `old` was there, `key` has its room; when not, a refusal of
        # `key` leaves everything as it was.
        self._entries.pop(old, None)
        self._write(key, value, ttl)
        self._unlist(index, old)

    async def record(
        self, writes: Sequence[Write], *, delete: str = "", unlist: tuple[str, str] = ("", "")
    ) -> None:
        # Deleted first, so that the writes have its room; a refused write changes nothing.
        dropped = self._entries.pop(delete, None) if delete else None
        new = [w.key for w in writes if w.key not in self._entries]
        if len(self._entries) + len(new) > self._max:
            if dropped is not None:
                self._entries[delete] = dropped
            raise StoreFull("the memory store is full")
        for w in writes:
            ttl = w.ttl
            if ttl is None:
                held = self._entries.get(w.key)
                if held is None or held[0] <= self._clock():
                    continue
                ttl = held[0] - self._clock()
            self._write(w.key, w.value, ttl)
            if w.index:
                self._listings.setdefault(w.index, {})[w.key] = self._clock()
        self._unlist(*unlist)

    async def put_tracked(
        self,
        key: str,
        value: str,
        ttl: float,
        *,
        index: str,
        keep: int,
        index_ttl: float,
        starting: bool = False,
    ) -> list[str]:
        self._write(key, value, ttl, starting=starting)
        now = self._clock()
        # A list, not a deque: one per user, and a deque's first block alone is ~600 bytes.
        row = self._indexes.get(index)
        if row is None or row[0] <= now:
            row = self._indexes[index] = [now + index_ttl, key]  # sized exactly: most stay so
        else:
            row[0] = now + index_ttl
            row[1:] = [k for k in row[1:] if k != key and self._live(k) is not None]
            row.append(key)
        excess = max(0, len(row) - 1 - keep)
        dropped: list[str] = row[1 : 1 + excess]
        del row[1 : 1 + excess]
        for old in dropped:
            self._entries.pop(old, None)
        return dropped

    async def spend(self, key: str, *, burst: int, per_second: float) -> bool:
        now = self._clock()
        raw = self._live(key)
        tokens, then = (float(x) for x in raw.split()) if raw else (float(burst), now)
        tokens = min(float(burst), tokens + (now - then) * per_second)
        if tokens < 1:
            return False
        # Kept until it would be full again: a missing bucket is a full one.
        self._write(key, f"{tokens - 1} {now}", burst / per_second, starting=raw is None)
        return True

    async def delete(self, key: str, *, index: str = "") -> None:
        self._entries.pop(key, None)
        self._unlist(index, key)

    def _unlist(self, index: str, key: str) -> None:
        listing = self._listings.get(index)
        if listing is not None:
            listing.pop(key, None)
            if not listing:
                del self._listings[index]

    async def listed(self, indexes: Sequence[str], *, limit: int) -> list[str]:
        found: list[str] = []
        for index in indexes:
            listing = self._listings.get(index, {})
            found += sorted(listing, key=listing.__getitem__)[:limit]
        return found

    async def scan(self, prefix: str) -> list[str]:
        return [k for k in list(self._entries) if k.startswith(prefix) and self._live(k)]

    async def ping(self) -> bool:
        return True

    async def now(self) -> float:
        return self._clock()

    async def aclose(self) -> None:
        self._entries.clear()
        self._expiry.clear()
        self._indexes.clear()
        self._listings.clear()


# Redis runs a script as one step: nothing else runs between its commands. Every key a script
# touches is one of its KEYS, and on a cluster they share a hash slot (the caller's hash tags).

# Take KEYS[1], if its value starts with ARGV[3], and leave the marker ARGV[1] at KEYS[2]
# (PX ARGV[2]); return the value found either way.
_CLAIM = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, #ARGV[3]) == ARGV[3] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  if KEYS[3] then redis.call('SET', KEYS[3], ARGV[4] .. value, 'PX', ARGV[2]) end
elseif not value and KEYS[3] then
  local held = redis.call('GET', KEYS[3])
  if held and string.sub(held, 1, #ARGV[4]) == ARGV[4] then
    return string.sub(held, #ARGV[4] + 1)
  end
end
return value
"""

# Delete KEYS[1] and set KEYS[2] to ARGV[1] (PX ARGV[2]); with an index KEYS[3], the deleted
# key's listing ARGV[3] leaves it.
_REPLACE = """
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if KEYS[3] then redis.call('ZREM', KEYS[3], ARGV[3]) end
"""

# Set KEYS[1] to ARGV[1] (PX ARGV[2]) and list ARGV[3] in the index KEYS[2], scored by the
# store's own time, the index living as long as its newest entry.
_PUT_LISTED = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local now = redis.call('TIME')
redis.call('ZADD', KEYS[2], now[1] * 1000 + math.floor(now[2] / 1000), ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
"""

# `record`: ARGV[1] writes at KEYS[1..n], each as ARGV (value, PX or 0 to keep the TTL of a key
# that is there, the
# index's position in KEYS or 0, the listing's member) from ARGV[5]; then KEYS[ARGV[2]] (when
# not 0) is deleted and the member ARGV[4] leaves the index KEYS[ARGV[3]] (when not 0). A
# listing is scored by the store's time in ms, and after the newest listing of its index.
_RECORD = """
local n = tonumber(ARGV[1])
for i = 1, n do
  local at = 5 + (i - 1) * 4
  local value, px, index = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
  if px == '0' then
    redis.call('SET', KEYS[i], value, 'XX', 'KEEPTTL')
  else
    redis.call('SET', KEYS[i], value, 'PX', px)
  end
  if index > 0 then
    local now = redis.call('TIME')
    local score = now[1] * 1000 + math.floor(now[2] / 1000)
    local last = redis.call('ZRANGE', KEYS[index], -1, -1, 'WITHSCORES')
    if last[2] and tonumber(last[2]) >= score then score = tonumber(last[2]) + 1 end
    redis.call('ZADD', KEYS[index], score, ARGV[at + 3])
    if px ~= '0' and redis.call('PTTL', KEYS[index]) < tonumber(px) then
      redis.call('PEXPIRE', KEYS[index], px)
    end
  end
end
if ARGV[2] ~= '0' then redis.call('DEL', KEYS[tonumber(ARGV[2])]) end
if ARGV[3] ~= '0' then redis.call('ZREM', KEYS[tonumber(ARGV[3])], ARGV[4]) end
"""

# Delete KEYS[1] and its listing ARGV[1] in the index KEYS[2].
_DELETE_LISTED = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
"""

# `put_tracked`, when the index KEYS[2] lists fewer than ARGV[4] other keys (nothing can be over
# the bound, whichever of them are still there): set KEYS[1] to ARGV[1] (PX ARGV[2]), list ARGV[3]
# last (PX ARGV[5]) and return an empty list. Otherwise nothing is written, and the listing is
# returned so that the caller names those keys to `_PUT_TRACKED_FULL`.
_PUT_TRACKED = """
local listed = redis.call('LRANGE', KEYS[2], 0, -1)
local others = 0
for _, key in ipairs(listed) do if key ~= ARGV[3] then others = others + 1 end end
if others >= tonumber(ARGV[4]) then return listed end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('LREM', KEYS[2], 0, ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {}
"""

# `put_tracked` with the listed keys declared as KEYS[3...] (ARGV[6] is the store's prefix).
# When the index changed since it was read, nothing is written and `{1, listing}` is returned.
# Otherwise: as `_PUT_TRACKED`, and the keys no longer there leave the index; beyond the newest
# ARGV[4], the oldest are deleted and returned as `{0, dropped}`.
_PUT_TRACKED_FULL = """
local listed = redis.call('LRANGE', KEYS[2], 0, -1)
if #listed ~= #KEYS - 2 then return {1, listed} end
for i, key in ipairs(listed) do
  if ARGV[6] .. key ~= KEYS[2 + i] then return {1, listed} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local live = {}
for i, key in ipairs(listed) do
  if key ~= ARGV[3] and redis.call('EXISTS', KEYS[2 + i]) == 1 then live[#live + 1] = i end
end
local extra = #live + 1 - tonumber(ARGV[4])
local dropped = {}
for j = 1, extra do
  dropped[j] = listed[live[j]]
  redis.call('DEL', KEYS[2 + live[j]])
end
redis.call('DEL', KEYS[2])
for j = math.max(extra, 0) + 1, #live do redis.call('RPUSH', KEYS[2], listed[live[j]]) end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {0, dropped}
"""

# A token bucket at KEYS[1] (a hash: tokens, ms) holding ARGV[1] at most, refilled at ARGV[2]
# per second by the store's own clock: take one, returning 1, or return 0 when it is empty.
# It lives until it would be full again (a missing bucket is a full one).
_SPEND = """
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
local burst, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'ms')
local tokens = tonumber(held[1]) or burst
local since = tonumber(held[2]) or ms
tokens = math.min(burst, tokens + math.max(0, ms - since) * rate / 1000)
if tokens < 1 then return 0 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'ms', ms)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000))
return 1
"""

# A request waits this long for a free connection before the store counts as unavailable:
# a short stall of Redis queues requests instead of failing them at once.
POOL_WAIT_SECONDS = 5.0
POOL_SIZE = 32
# How often `put_tracked` reads an index again that changed under it before giving up.
TRACKED_TRIES = 3
# How often `/readyz` reads the eviction policy again.
POLICY_SECONDS = 60.0
# How often a Redis store reads its memory fill, to refuse new attempts before it is full.
FILL_SECONDS = 1.0
# A failed cluster command (a node down, a slot moving) is retried with backoff for about this
# long in all: time for a replica to be promoted, within a step's budget.
CLUSTER_RETRIES = 6
CLUSTER_BACKOFF_CAP = 1.0
CLUSTER_BACKOFF_BASE = 0.1

# A cluster command that failed this way is tried again, for this long at most (a replica is
# promoted within a few seconds of `cluster-node-timeout`: keep that below a step's budget).
FAILOVER_SECONDS = 6.0
_TOPOLOGY_ERRORS = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterDownError,
    TryAgainError,
    RedisClusterException,
)
_FINAL_ERRORS = (AuthenticationError, AuthorizationError)

_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
MAX_TAG = 16


def hash_tag(ident: str) -> str | None:
    """The tag of an id made as `tag.rest` (see `tagged_id`), or None."""
    tag, dot, _ = ident.partition(".")
    if dot and 0 < len(tag) <= MAX_TAG and all(c in _TAG_CHARS for c in tag):
        return tag
    return None


def tagged(kind: str, ident: str) -> str:
    """The key of `ident` among `kind`: an id made as `tag.rest` keeps its tag as the key's
    hash tag, so every key made from one tag lives in one cluster slot; any other id (made by
    an earlier release, or sent by anyone) is its key as it is."""
    tag = hash_tag(ident)
    if tag is not None:
        return f"{kind}:{{{tag}}}{ident[len(tag) + 1 :]}"
    return f"{kind}:{ident}"


def tagged_id(tag: str, rest: str) -> str:
    """An id whose keys (`tagged`) share the hash slot of every other id with this tag."""
    return f"{tag}.{rest}"


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisStore:
    """The store in Redis or a Redis Cluster, every key under one prefix; Redis keeps its own
    time for expiry."""

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "linker:",
        clustered: bool = False,
        sentinel: str | None = None,
        sentinel_clients: Sequence[Any] = (),
        pool_size: int = 0,
    ) -> None:
        self._redis = client
        self.encrypted = False  # over TLS (`rediss`, set by `from_url`): see `aclose`
        self._prefix = prefix
        self.clustered = clustered
        # The primary's name at the Sentinels that follow it, when they do, and the clients
        # of the Sentinels themselves, closed with the store.
        self.sentinel = sentinel
        self._sentinels = list(sentinel_clients)
        # The cluster and Sentinel clients refuse a command at once when their connections are
        # all in use; a bound here makes a burst wait its turn, as the single client's pool does.
        self._slots = asyncio.Semaphore(pool_size) if pool_size else None
        self._batch = Batcher(client)
        # The share of `maxmemory` in use, as last read (0 without a limit).
        self.fill = 0.0
        self._fill_due = 0.0
        self._fill_reading = False
        self._evicting: list[str] = []
        self._policy_due = 0.0
        self._claim = client.register_script(_CLAIM)
        self._replace = client.register_script(_REPLACE)
        self._put_listed = client.register_script(_PUT_LISTED)
        self._delete_listed = client.register_script(_DELETE_LISTED)
        self._record = client.register_script(_RECORD)
        self._put_tracked = client.register_script(_PUT_TRACKED)
        self._put_tracked_full = client.register_script(_PUT_TRACKED_FULL)
        self._spend = client.register_script(_SPEND)

    @property
    def follows_failover(self) -> bool:
        """A cluster or Sentinels move the primary: a command that may run twice is retried
        while they do (`_run`)."""
        return self.clustered or self.sentinel is not None

    @classmethod
    def from_url(
        cls, url: str, *, pool_size: int = POOL_SIZE, ca_file: str | None = None
    ) -> RedisStore:
        """`redis://`, `rediss://` (TLS, verified against `ca_file` when given, else the
        system's CAs), `redis+cluster://host:port[,host:port...]` or `rediss+cluster://`,
        `redis+sentinel://host:port[,host:port...]/primary-name[/db]` or `rediss+sentinel://`;
        an ACL user and password as `user:password@` before the host."""
        scheme = urlsplit(url).scheme
        tls = {"ssl_ca_certs": ca_file} if ca_file and scheme.startswith("rediss") else {}
        if scheme.endswith("+cluster"):
            store = cls._cluster(url, pool_size=pool_size, tls=tls)
        elif scheme.endswith("+sentinel"):
            store = cls._sentinel(url, pool_size=pool_size, tls=tls)
        else:
            store = cls._single(url, pool_size=pool_size, tls=tls)
        store.encrypted = scheme.startswith("rediss")
        return store

    @classmethod
    def _single(cls, url: str, *, pool_size: int, tls: dict[str, Any]) -> RedisStore:
        from redis.asyncio import BlockingConnectionPool, Redis

        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=pool_size,
            timeout=POOL_WAIT_SECONDS,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            **tls,
        )
        return cls(Redis(connection_pool=pool))

    @classmethod
    def _cluster(cls, url: str, *, pool_size: int, tls: dict[str, Any]) -> RedisStore:
        from redis.asyncio.cluster import ClusterNode, RedisCluster
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        nodes, username, password = cluster_nodes(url)
        client = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in nodes],
            username=username,
            password=password,
            ssl=url.startswith("rediss+"),
            max_connections=pool_size,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            retry=Retry(
                ExponentialBackoff(cap=CLUSTER_BACKOFF_CAP, base=CLUSTER_BACKOFF_BASE),
                CLUSTER_RETRIES,
            ),
            **tls,
        )
        return cls(client, clustered=True, pool_size=pool_size)

    @classmethod
    def _sentinel(cls, url: str, *, pool_size: int, tls: dict[str, Any]) -> RedisStore:
        """The primary the Sentinels name, followed when they fail it over: redis-py looks it
        up again when a connection to the old one fails or finds it demoted to a replica."""
        from redis.asyncio.sentinel import Sentinel

        nodes, name, db, username, password = sentinel_target(url)
        options: dict[str, Any] = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
        if url.startswith("rediss+"):
            options.update(ssl=True, **tls)
        # The Sentinels are asked without the primary's credentials: they have their own.
        sentinels = Sentinel(nodes, sentinel_kwargs=options)
        primary: dict[str, Any] = {"username": username, "password": password, **options}
        client = sentinels.master_for(name, db=db, max_connections=pool_size, **primary)
        return cls(client, sentinel=name, sentinel_clients=sentinels.sentinels, pool_size=pool_size)

    async def _run(self, call: Callable[[], Any], *, again: bool = True) -> Any:
        """`call`, its errors as `StoreUnavailable`. On a cluster or behind Sentinels, a call
        that may run twice (`again`) is retried while a failed primary is replaced, for
        `FAILOVER_SECONDS` at most: within a step's budget. A call whose answer may have been
        lost after it ran is not (a second `take` would find nothing, an untrue "unknown")."""
        deadline = time.monotonic() + FAILOVER_SECONDS
        pause = CLUSTER_BACKOFF_BASE
        while True:
            try:
                return await self._call(call)
            except _TOPOLOGY_ERRORS as exc:
                if not (self.follows_failover and again) or isinstance(exc, _FINAL_ERRORS):
                    raise StoreUnavailable(type(exc).__name__) from None
                if time.monotonic() + pause > deadline:
                    raise StoreUnavailable(type(exc).__name__) from None
            except (RedisError, RedisClusterException, TimeoutError) as exc:
                raise StoreUnavailable(type(exc).__name__) from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, CLUSTER_BACKOFF_CAP)

    async def _cmd(self, *args: Any) -> Any:
        """One command: batched with the others of this turn (one Redis), or sent alone."""
        if self._batch is not None:
            return await self._batch.call(*args)
        return await self._redis.execute_command(*args)

    async def _eval(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        """A registered script by its digest; loaded first if this Redis does not know it."""
        if self._batch is None:
            return await script(keys=keys, args=args)
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            return await self._batch.call(*command)
        except NoScriptError:
            await self._redis.script_load(script.script)
            return await self._batch.call(*command)

    async def _call(self, call: Callable[[], Any]) -> Any:
        if self._slots is None:
            return await call()
        async with asyncio.timeout(POOL_WAIT_SECONDS):
            await self._slots.acquire()
        try:
            return await call()
        finally:
            self._slots.release()

    @staticmethod
    def _text(raw: Any) -> str | None:
        return raw.decode() if isinstance(raw, bytes) else raw

    async def _check_room(self) -> None:
        """Refuse a new attempt while the store's memory is filled past `START_SHARE` of its
        `maxmemory` (the fullest primary's, on a cluster); the fill is read once per
        `FILL_SECONDS` at most, by one caller at a time."""
        now = time.monotonic()
        if now >= self._fill_due and not self._fill_reading:
            self._fill_reading = True
            try:
                self.fill = max((node.fill for node in await self.nodes()), default=0.0)
            except StoreUnavailable:
                pass  # not known: the write itself tells whether the store answers
            finally:
                self._fill_reading = False
                self._fill_due = time.monotonic() + FILL_SECONDS
        if self.fill >= START_SHARE:
            raise NoRoom("the store has no room for new attempts")

    async def put(
        self,
        key: str,
        value: str,
        ttl: float,
        *,
        only_new: bool = False,
        index: str = "",
        starting: bool = False,
    ) -> bool:
        if starting:
            await self._check_room()
        full = self._prefix + key
        if index and not only_new:
            keys = [full, self._prefix + index]
            await self._run(lambda: self._eval(self._put_listed, keys, [value, _ms(ttl), key]))
            return True
        command = ("SET", full, value, "PX", _ms(ttl), *(("NX",) if only_new else ()))
        done = await self._run(lambda: self._cmd(*command))
        return bool(done)

    async def get(self, key: str) -> str | None:
        return self._text(await self._run(lambda: self._cmd("GET", self._prefix + key)))

    async def take(self, key: str) -> str | None:
        full = self._prefix + key
        return self._text(await self._run(lambda: self._cmd("GETDEL", full), again=False))

    async def claim(
        self,
        key: str,
        marker_key: str,
        marker: str,
        ttl: float,
        *,
        if_starts_with: str = "",
        holder: tuple[str, str] = ("", ""),
    ) -> str | None:
        keys = [self._prefix + key, self._prefix + marker_key]
        args = [marker, _ms(ttl), if_starts_with]
        held_at, token = holder
        if held_at:
            keys.append(self._prefix + held_at)
            args.append(token + _HELD)
        # With a holder, asking again answers what the first ask took: safe to run twice.
        found = await self._run(lambda: self._eval(self._claim, keys, args), again=bool(held_at))
        return self._text(found)

    async def replace(self, old: str, key: str, value: str, ttl: float, *, index: str = "") -> None:
        keys = [self._prefix + old, self._prefix + key]
        if index:
            keys.append(self._prefix + index)
        await self._run(lambda: self._eval(self._replace, keys, [value, _ms(ttl), old]))

    async def put_tracked(
        self,
        key: str,
        value: str,
        ttl: float,
        *,
        index: str,
        keep: int,
        index_ttl: float,
        starting: bool = False,
    ) -> list[str]:
        if starting:
            await self._check_room()
        keys = [self._prefix + key, self._prefix + index]
        args: list[Any] = [value, _ms(ttl), key, keep, _ms(index_ttl)]
        found = await self._run(lambda: self._eval(self._put_tracked, keys, args))
        for _ in range(TRACKED_TRIES):
            if not found:
                return []
            # As many listed as the bound: the keys still there are named, then counted.
            listed = [self._text(raw) or "" for raw in found]
            named = keys + [self._prefix + k for k in listed]
            full_args = [*args, self._prefix]
            done, found = await self._run(
                lambda: self._eval(self._put_tracked_full, named, full_args)  # noqa: B023
            )
            if done == 0:
                return [text for raw in found if (text := self._text(raw)) is not None]
        raise StoreUnavailable("the index kept changing")

    async def record(
        self, writes: Sequence[Write], *, delete: str = "", unlist: tuple[str, str] = ("", "")
    ) -> None:
        keys = [self._prefix + w.key for w in writes]
        args: list[Any] = [len(writes), 0, 0, unlist[1]]

        def position(key: str) -> int:
            full = self._prefix + key
            if full not in keys:
                keys.append(full)
            return keys.index(full) + 1

        for w in writes:
            px = 0 if w.ttl is None else _ms(w.ttl)
            args += [w.value, px, position(w.index) if w.index else 0, w.key]
        if delete:
            args[1] = position(delete)
        if unlist[0]:
            args[2] = position(unlist[0])
        await self._run(lambda: self._eval(self._record, keys, args))

    async def spend(self, key: str, *, burst: int, per_second: float) -> bool:
        await self._check_room()
        keys, args = [self._prefix + key], [burst, repr(per_second)]
        return bool(await self._run(lambda: self._eval(self._spend, keys, args)))

    async def delete(self, key: str, *, index: str = "") -> None:
        if index:
            keys = [self._prefix + key, self._prefix + index]
            await self._run(lambda: self._eval(self._delete_listed, keys, [key]))
            return
        await self._run(lambda: self._cmd("DEL", self._prefix + key))

    async def listed(self, indexes: Sequence[str], *, limit: int) -> list[str]:
        async def read() -> list[Any]:
            # One round trip per node: the indexes are many and usually empty.
            pipe = self._redis.pipeline(transaction=False)
            for index in indexes:
                pipe.zrange(self._prefix + index, 0, limit - 1)
            return await pipe.execute()  # type: ignore[no-any-return]

        rows = await self._run(read)
        return [self._text(raw) or "" for row in rows for raw in row]

    async def scan(self, prefix: str) -> list[str]:
        async def collect() -> list[str]:
            found = []
            async for raw in self._redis.scan_iter(match=self._prefix + prefix + "*", count=500):
                found.append(self._text(raw)[len(self._prefix) :])  # type: ignore[index]
            return found

        return await self._run(collect)  # type: ignore[no-any-return]

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, RedisClusterException):
            return False

    async def now(self) -> float:
        seconds, microseconds = await self._run(self._redis.time)
        return int(seconds) + int(microseconds) / 1_000_000

    async def nodes(self) -> list[NodeMemory]:
        """Each primary's memory limit, use and eviction policy (from `INFO memory`, which
        managed services allow where they refuse `CONFIG GET`)."""

        async def read() -> list[NodeMemory]:
            if not self.clustered:
                return [_node_memory("redis", await self._redis.info("memory"))]
            infos = await self._redis.info("memory", target_nodes=self._redis.PRIMARIES)
            return [_node_memory(name, info) for name, info in sorted(infos.items())]

        return await self._run(read)  # type: ignore[no-any-return]

    async def evicting(self) -> list[str]:
        """The primaries whose `maxmemory-policy` can evict linker's keys (as `node policy`),
        read once per `POLICY_SECONDS` at most; unknown (unreachable) counts as none."""
        now = time.monotonic()
        if now >= self._policy_due:
            self._policy_due = now + POLICY_SECONDS
            try:
                self._evicting = [f"{n.node} {n.policy}" for n in await self.nodes() if n.evicts]
            except StoreUnavailable:
                self._policy_due = now  # read again next time
        return self._evicting

    def slots_seen(self) -> int:
        """The hash slots the cluster client knows a primary for (0 for one Redis)."""
        if not self.clustered:
            return 0
        return sum(1 for nodes in self._redis.nodes_manager.slots_cache.values() if nodes)

    async def aclose(self) -> None:
        await self._redis.aclose()
        if not self.clustered:
            # A client made around a pool of ours does not close that pool itself.
            await self._redis.connection_pool.disconnect()
        for sentinel in self._sentinels:
            await sentinel.aclose()
        if self.encrypted:
            await settle_tls_closes()


# A TLS connection that failed (a refused password, say) can finish closing, socket and all,
# only after redis-py's close has returned. A loop that ends at once (`linker check`, a test)
# would leave its socket to the interpreter's exit; this long on the loop lets it close.
TLS_CLOSE_SETTLE_SECONDS = 0.1


async def settle_tls_closes() -> None:
    await asyncio.sleep(TLS_CLOSE_SETTLE_SECONDS)


# Policies under which Redis deletes keys that have not expired when memory runs out: every key
# linker writes has a TTL, so the `volatile-*` ones can evict its attempts and work items too.
EVICTING_POLICIES = frozenset(
    {
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    }
)


@dataclass(frozen=True)
class NodeMemory:
    """One Redis primary's memory as it reports it (`maxmemory` 0: no limit)."""

    node: str
    policy: str
    maxmemory: int
    used: int

    @property
    def evicts(self) -> bool:
        return self.policy in EVICTING_POLICIES

    @property
    def fill(self) -> float:
        """The share of the memory limit in use (0 without a limit)."""
        return self.used / self.maxmemory if self.maxmemory else 0.0


def _node_memory(name: str, info: dict[str, Any]) -> NodeMemory:
    return NodeMemory(
        node=name,
        policy=str(info.get("maxmemory_policy", "unknown")),
        maxmemory=int(info.get("maxmemory", 0) or 0),
        used=int(info.get("used_memory", 0) or 0),
    )


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], str | None, str | None]:
    """The `host:port` list, user and password of a `redis+cluster://` URL (several hosts
    in one URL are beyond `urlsplit`). Raises ValueError without quoting the URL."""
    rest = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    userinfo, at, hosts = rest.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username, password = (unquote(user) or None), (unquote(secret) if colon else None)
    nodes = []
    for entry in hosts.split(","):
        host, colon, port = entry.strip().rpartition(":")
        host = host.strip("[]")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("each node must be given as host:port")
        nodes.append((host, int(port)))
    return nodes, username, password


def sentinel_target(url: str) -> tuple[list[tuple[str, int]], str, int, str | None, str | None]:
    """The Sentinels, the primary's name, the database, user and password of a
    `redis+sentinel://host:port[,host:port...]/primary-name[/db]` URL."""
    nodes, username, password = cluster_nodes(url)
    path = url.split("://", 1)[1].partition("/")[2].partition("?")[0]
    name, _, db = path.partition("/")
    if not name:
        raise ValueError("a Sentinel URL names its primary: redis+sentinel://host:port/name")
    if db and not db.isdigit():
        raise ValueError("the database after the primary's name must be a number")
    return nodes, unquote(name), int(db or 0), username, password


def open_store(
    url: str, *, clock: Callable[[], float] = time.time, ca_file: str | None = None
) -> Store:
    """The store for `LINKER_STORE_URL` (and `LINKER_REDIS_CA_FILE`)."""
    if urlsplit(url).scheme == "memory":
        return MemoryStore(clock=clock)
    return RedisStore.from_url(url, ca_file=ca_file)
