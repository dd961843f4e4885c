"""Where attempts wait between the steps: a small key-value store with expiry.

Two implementations of one protocol: `MemoryStore` for a single process, `RedisStore` to share
attempts between replicas. The operations are the few the protocol needs, each atomic:
put (optionally only if new), get, take (read and delete at once), claim (take one key, if its
value begins as expected, and write another in the same step), replace (delete one key and
write another), and put_tracked (write a key and list it in an index bounded to its newest live
keys). `linker.attempts` gives them their meaning. In Redis each of these is one command (a
script where it has several steps): every command costs the replica CPU of its own.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from redis.exceptions import RedisError


class StoreUnavailable(Exception):
    """The shared store could not be reached."""


class StoreFull(StoreUnavailable):
    """The memory store holds as many live entries as it may: new ones are refused."""


class Store(Protocol):
    async def put(self, key: str, value: str, ttl: float, *, only_new: bool = False) -> bool:
        """Store `value` for `ttl` seconds; with `only_new`, only if `key` is absent."""

    async def get(self, key: str) -> str | None: ...

    async def take(self, key: str) -> str | None:
        """Read and delete `key` at once: of two concurrent takes, one gets the value."""

    async def claim(
        self, key: str, marker_key: str, marker: str, ttl: float, *, if_starts_with: str = ""
    ) -> str | None:
        """Take `key` and put `marker` at `marker_key`, in one step, if its value starts with
        `if_starts_with`. Returns the value found: one that starts otherwise stays where it is."""

    async def replace(self, old: str, key: str, value: str, ttl: float) -> None:
        """Delete `old` and put `value` at `key` for `ttl` seconds, in one step."""

    async def put_tracked(
        self, key: str, value: str, ttl: float, *, index: str, keep: int, index_ttl: float
    ) -> list[str]:
        """Put `value` at `key` and list `key` last in `index`, in one step.

        The index keeps only the keys still there (taken, deleted or expired ones leave it),
        and only the newest `keep` of them: the older ones are deleted, and returned. The index
        lives `index_ttl` seconds from its last write.
        """

    async def delete(self, key: str) -> None: ...

    async def scan(self, prefix: str) -> list[str]:
        """Every live key that starts with `prefix` (for background work)."""

    async def ping(self) -> bool: ...

    async def now(self) -> float:
        """The store's own clock, in seconds since the epoch: the time every replica shares
        (Redis `TIME`), against which each host's offset is measured (`linker.store_clock`)."""

    async def aclose(self) -> None: ...


SWEEP_SECONDS = 1.0


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

    def _write(self, key: str, value: str, ttl: float) -> None:
        now = self._clock()
        # Expired keys are swept at most once a second (a sweep visits every TTL's queue),
        # and always before a new key is refused; reads check each key's exact expiry.
        if now >= self._next_sweep or len(self._entries) >= self._max:
            self._drop_expired(now)
            self._next_sweep = now + SWEEP_SECONDS
        if key not in self._entries and len(self._entries) >= self._max:
            raise StoreFull("the memory store is full")
        self._entries[key] = (now + ttl, value.encode())
        # Queued by whole seconds: TTLs computed from a token's `exp` differ in every call,
        # and one queue each would make every write scan them all. Within a second, a key
        # may leave its queue up to a second late; reads check the exact expiry.
        self._expiry.setdefault(math.ceil(ttl), deque()).append(key)

    async def put(self, key: str, value: str, ttl: float, *, only_new: bool = False) -> bool:
        if only_new and self._live(key) is not None:
            return False
        self._write(key, value, ttl)
        return True

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def take(self, key: str) -> str | None:
        value = self._live(key)
        self._entries.pop(key, None)
        return value

    async def claim(
        self, key: str, marker_key: str, marker: str, ttl: float, *, if_starts_with: str = ""
    ) -> str | None:
        value = self._live(key)
        if value is not None and value.startswith(if_starts_with):
            # Deleted first, so the marker always has room: a full store refuses nothing here.
            del self._entries[key]
            self._write(marker_key, marker, ttl)
        return value

    async def replace(self, old: str, key: str, value: str, ttl: float) -> None:
        # As in `claim`: when `old` was there, `key` has its room; when not, a refusal of
        # `key` leaves everything as it was.
        self._entries.pop(old, None)
        self._write(key, value, ttl)

    async def put_tracked(
        self, key: str, value: str, ttl: float, *, index: str, keep: int, index_ttl: float
    ) -> list[str]:
        self._write(key, value, ttl)
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

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

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


# Redis runs a script as one step: nothing else runs between its commands.

# Take KEYS[1], if its value starts with ARGV[3], and leave the marker ARGV[1] at KEYS[2]
# (PX ARGV[2]); return the value found either way.
_CLAIM = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, #ARGV[3]) == ARGV[3] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
end
return value
"""

# Delete KEYS[1] and set KEYS[2] to ARGV[1] (PX ARGV[2]).
_REPLACE = """
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
"""

# Set KEYS[1] to ARGV[1] (PX ARGV[2]) and list ARGV[3], the same key without the store's prefix
# ARGV[6], last in the index KEYS[2] (PX ARGV[5]). Keys no longer there leave the index; beyond
# the newest ARGV[4], the oldest are deleted and returned. The index's keys are only known here,
# not declared: the store is one Redis, not a cluster.
_PUT_TRACKED = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local live = {}
for _, key in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if key ~= ARGV[3] and redis.call('EXISTS', ARGV[6] .. key) == 1 then live[#live + 1] = key end
end
live[#live + 1] = ARGV[3]
local extra = #live - tonumber(ARGV[4])
local dropped = {}
for i = 1, extra do
  dropped[i] = live[i]
  redis.call('DEL', ARGV[6] .. live[i])
end
redis.call('DEL', KEYS[2])
for i = math.max(extra, 0) + 1, #live do redis.call('RPUSH', KEYS[2], live[i]) end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return dropped
"""

# A request waits this long for a free connection before the store counts as unavailable:
# a short stall of Redis queues requests instead of failing them at once.
POOL_WAIT_SECONDS = 5.0
POOL_SIZE = 32


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisStore:
    """The store in Redis, every key under one prefix; Redis keeps its own time for expiry."""

    def __init__(self, client: Any, *, prefix: str = "linker:") -> None:
        self._redis = client
        self._prefix = prefix
        self._claim = client.register_script(_CLAIM)
        self._replace = client.register_script(_REPLACE)
        self._put_tracked = client.register_script(_PUT_TRACKED)

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = POOL_SIZE) -> RedisStore:
        from redis.asyncio import BlockingConnectionPool, Redis

        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=pool_size,
            timeout=POOL_WAIT_SECONDS,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
        )
        return cls(Redis(connection_pool=pool))

    async def _run(self, call: Callable[[], Any]) -> Any:
        try:
            return await call()
        except RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from None

    @staticmethod
    def _text(raw: Any) -> str | None:
        return raw.decode() if isinstance(raw, bytes) else raw

    async def put(self, key: str, value: str, ttl: float, *, only_new: bool = False) -> bool:
        full = self._prefix + key
        done = await self._run(lambda: self._redis.set(full, value, px=_ms(ttl), nx=only_new))
        return bool(done)

    async def get(self, key: str) -> str | None:
        return self._text(await self._run(lambda: self._redis.get(self._prefix + key)))

    async def take(self, key: str) -> str | None:
        return self._text(await self._run(lambda: self._redis.getdel(self._prefix + key)))

    async def claim(
        self, key: str, marker_key: str, marker: str, ttl: float, *, if_starts_with: str = ""
    ) -> str | None:
        keys = [self._prefix + key, self._prefix + marker_key]
        args = [marker, _ms(ttl), if_starts_with]
        return self._text(await self._run(lambda: self._claim(keys=keys, args=args)))

    async def replace(self, old: str, key: str, value: str, ttl: float) -> None:
        keys = [self._prefix + old, self._prefix + key]
        await self._run(lambda: self._replace(keys=keys, args=[value, _ms(ttl)]))

    async def put_tracked(
        self, key: str, value: str, ttl: float, *, index: str, keep: int, index_ttl: float
    ) -> list[str]:
        keys = [self._prefix + key, self._prefix + index]
        args = [value, _ms(ttl), key, keep, _ms(index_ttl), self._prefix]
        dropped = await self._run(lambda: self._put_tracked(keys=keys, args=args))
        return [text for raw in dropped if (text := self._text(raw)) is not None]

    async def delete(self, key: str) -> None:
        await self._run(lambda: self._redis.delete(self._prefix + key))

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
        except RedisError:
            return False

    async def now(self) -> float:
        seconds, microseconds = await self._run(self._redis.time)
        return int(seconds) + int(microseconds) / 1_000_000

    async def aclose(self) -> None:
        await self._redis.aclose()
        # A client made around a pool of ours does not close that pool itself.
        await self._redis.connection_pool.disconnect()


def open_store(url: str, *, clock: Callable[[], float] = time.time) -> Store:
    """The store for `LINKER_STORE_URL`."""
    if urlsplit(url).scheme == "memory":
        return MemoryStore(clock=clock)
    return RedisStore.from_url(url)
