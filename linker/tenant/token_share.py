"""One Management API token per deployment: shared through the store, refreshed by one replica.

Replicas (and worker processes) that each fetched their own would multiply the calls to the
tenant's rate-limited token endpoint, and count against any per-application token limit set
on the companion client (see the README on Auth0's M2M quotas). The token sits in the store
under the companion client's id, encrypted (JWE `dir` / `A256GCM`, with a key derived from
the client secret) so that a dump of the store does not hand out Management API tokens. When
it is missing or due, the replica that takes a short lock key (`put(..., only_new=True)`)
fetches it; the others wait briefly for it to appear, then fetch their own rather than fail.
The store is a help, never a dependency: when it cannot be reached, each process fetches its
own token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from linker.state.store import Store, StoreUnavailable

LOCK_SECONDS = 10.0
WAIT_SECONDS = 3.0
POLL_SECONDS = 0.05
_ALGORITHMS = ["dir", "A256GCM"]
_KEY_LABEL = b"linker: the Management API token in the shared store"


@dataclass(frozen=True)
class CachedToken:
    value: str
    refresh_at: float


class TokenShare:
    """The companion client's Management API token in the store, for every replica."""

    def __init__(
        self,
        store: Store,
        *,
        client_id: str,
        client_secret: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._key = "m2m:" + client_id
        self._lock = "m2m-lock:" + client_id
        raw = hmac.new(client_secret.encode(), _KEY_LABEL, hashlib.sha256).digest()
        self._cipher = OctKey.import_key(raw)
        self._clock = clock
        self._sleep = sleep

    async def read(self) -> CachedToken | None:
        """The shared token while it is fresh; None when absent, due, unreadable or unreachable
        (a token sealed with another client secret is unreadable: it gets replaced)."""
        try:
            sealed = await self._store.get(self._key)
        except StoreUnavailable:
            return None
        if sealed is None:
            return None
        try:
            data = json.loads(
                jwe.decrypt_compact(sealed, self._cipher, _ALGORITHMS).plaintext or b""
            )
            token = CachedToken(str(data["value"]), float(data["refresh_at"]))
        except (JoseError, ValueError, KeyError, TypeError):
            return None
        return token if self._clock() < token.refresh_at else None

    async def publish(self, token: CachedToken) -> None:
        ttl = token.refresh_at - self._clock()
        if ttl <= 0:
            return
        plain = json.dumps({"value": token.value, "refresh_at": token.refresh_at})
        sealed = jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM"}, plain, self._cipher)
        with contextlib.suppress(StoreUnavailable):
            await self._store.put(self._key, sealed, ttl)

    async def forget(self, value: str) -> None:
        """Drop the shared token if it is `value` (one the Management API refused)."""
        shared = await self.read()
        if shared is not None and shared.value == value:
            with contextlib.suppress(StoreUnavailable):
                await self._store.delete(self._key)

    @contextlib.asynccontextmanager
    async def refreshing(self) -> AsyncIterator[bool]:
        """Yields True when this replica is the one to fetch a new token (it holds the lock, or
        the store cannot be reached), False when another replica is already fetching it."""
        try:
            mine = await self._store.put(
                self._lock, secrets.token_urlsafe(8), LOCK_SECONDS, only_new=True
            )
        except StoreUnavailable:
            yield True
            return
        try:
            yield mine
        finally:
            if mine:
                with contextlib.suppress(StoreUnavailable):
                    await self._store.delete(self._lock)

    async def wait(self) -> CachedToken | None:
        """The token another replica is fetching, once it appears; None after a short wait."""
        for _ in range(int(WAIT_SECONDS / POLL_SECONDS)):  # counted: the clock may be a fake
            await self._sleep(POLL_SECONDS)
            token = await self.read()
            if token is not None:
                return token
        return None
