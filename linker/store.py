"""Where transactions wait between `/link/start` and `/link/callback`.

`take` is atomic and one-shot: a replayed callback finds nothing. The memory store is for a
single process; `redis://` shares transactions between replicas.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from redis.exceptions import RedisError

from linker.transaction import Transaction

# A transaction is kept a little past its own expiry so that a late callback is told
# "expired" rather than "not found"; the transaction's `expires_at` is what is enforced.
GRACE_SECONDS = 300


class StoreUnavailable(Exception):
    """The shared store could not be reached."""


class TransactionStore(Protocol):
    async def put(self, txn: Transaction, ttl: float) -> None: ...

    async def take(self, txn_id: str) -> Transaction | None: ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """In-process store, bounded: expired entries go first, then the oldest."""

    def __init__(self, *, max_entries: int = 10_000, clock: Callable[[], float] = time.time):
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._max = max_entries
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    async def put(self, txn: Transaction, ttl: float) -> None:
        now = self._clock()
        self._drop_expired_head(now)
        if len(self._entries) >= self._max:
            self._evict(now)
        self._entries[txn.id] = (now + ttl + GRACE_SECONDS, txn.dumps())

    def _drop_expired_head(self, now: float) -> None:
        # Entries are kept in insertion order, and with one TTL that is expiry order too, so
        # abandoned transactions go from the front at O(1) per put: none lingers.
        while self._entries:
            key, (until, _) = next(iter(self._entries.items()))
            if until > now:
                return
            del self._entries[key]

    def _evict(self, now: float) -> None:
        for key in [k for k, (until, _) in self._entries.items() if until <= now]:
            del self._entries[key]
        while len(self._entries) >= self._max:
            self._entries.popitem(last=False)

    async def take(self, txn_id: str) -> Transaction | None:
        entry = self._entries.pop(txn_id, None)
        if entry is None or entry[0] <= self._clock():
            return None
        return Transaction.loads(entry[1])

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._entries.clear()


class RedisStore:
    """Transactions in Redis: `SET ... EX` to put, `GETDEL` to take exactly once."""

    def __init__(self, client: Any, *, prefix: str = "linker:txn:") -> None:
        self._redis = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        from redis.asyncio import Redis

        return cls(Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0))

    async def put(self, txn: Transaction, ttl: float) -> None:
        key, ex = self._prefix + txn.id, int(ttl) + GRACE_SECONDS
        try:
            await self._redis.set(key, txn.dumps(), ex=ex)
        except RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from None

    async def take(self, txn_id: str) -> Transaction | None:
        try:
            raw = await self._redis.getdel(self._prefix + txn_id)
        except RedisError as exc:
            raise StoreUnavailable(type(exc).__name__) from None
        return None if raw is None else Transaction.loads(raw)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    async def aclose(self) -> None:
        await self._redis.aclose()


def open_store(url: str, *, clock: Callable[[], float] = time.time) -> TransactionStore:
    """The store for `LINKER_STORE_URL` (Redis keeps its own time for expiry)."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryStore(clock=clock)
    return RedisStore.from_url(url)
