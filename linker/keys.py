"""The tenant's signing keys, cached, with a guarded refetch for an unknown `kid`.

Auth0 rotates keys by publishing the next one before signing with it, so an unknown `kid`
usually means "refetch". A token with a made-up `kid` must not turn into a request to the
tenant every time, hence the cooldown between refetches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from joserfc.jwk import KeySet

Fetch = Callable[[], Awaitable[dict[str, Any]]]


class KeyCache:
    """Holds the JWKS; `keys_for(kid)` refetches at most once per `cooldown` seconds."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        clock: Callable[[], float],
        cooldown: float = 30.0,
        max_age: float = 3600.0,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._cooldown = cooldown
        self._max_age = max_age
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self._keys is not None

    async def keys_for(self, kid: str | None) -> KeySet:
        """The key set, refreshed when stale or when it lacks `kid` (subject to the cooldown)."""
        if self._needs_refresh(kid):
            async with self._lock:
                # Another request may have refreshed while this one waited for the lock.
                if self._needs_refresh(kid):
                    await self._refresh()
        assert self._keys is not None
        return self._keys

    def _needs_refresh(self, kid: str | None) -> bool:
        age = self._clock() - self._fetched_at
        if self._keys is None or age > self._max_age:
            return True
        return kid is not None and kid not in self._kids and age >= self._cooldown

    async def _refresh(self) -> None:
        document = await self._fetch()
        # Only signing keys for RS256 matter; anything else in the set is ignored.
        usable = [
            k
            for k in document.get("keys", [])
            if isinstance(k, dict) and k.get("kty") == "RSA" and k.get("use", "sig") == "sig"
        ]
        self._keys = KeySet.import_key_set({"keys": usable})
        self._kids = frozenset(str(k["kid"]) for k in usable if "kid" in k)
        self._fetched_at = self._clock()
