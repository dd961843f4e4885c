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

from linker.core.errors import Code, LinkError


class NoSigningKey(LinkError):
    """The tenant's key set was read, and holds no key to verify RS256 with."""

    def __init__(self) -> None:
        super().__init__(
            Code.UPSTREAM_UNAVAILABLE, "The Auth0 tenant publishes no RS256 signing key."
        )


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
        self._failed_at = float("-inf")
        self._failure: LinkError | None = None
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self._keys is not None

    async def keys_for(self, kid: str | None) -> KeySet:
        """The key set, refreshed when stale or when it lacks `kid` (subject to the cooldown).

        A failed fetch is not repeated within the cooldown either: `/readyz` probes and bad
        tokens must not turn an outage of the tenant into a stream of requests to it. Keys
        already held are kept while a refresh fails.
        """
        if self._needs_refresh(kid):
            self._raise_recent_failure()
            async with self._lock:
                # Another request may have refreshed while this one waited for the lock.
                if self._needs_refresh(kid):
                    self._raise_recent_failure()
                    try:
                        await self._refresh()
                    except LinkError as failure:
                        self._failed_at, self._failure = self._clock(), failure
                        if self._keys is None:
                            raise
        assert self._keys is not None
        return self._keys

    def _raise_recent_failure(self) -> None:
        recent = self._clock() - self._failed_at < self._cooldown
        if recent and self._keys is None and self._failure is not None:
            raise self._failure

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
        if not usable:
            # A key set with nothing to verify RS256 with is an outage of the tenant's keys.
            raise NoSigningKey()
        self._keys = KeySet.import_key_set({"keys": usable})
        self._kids = frozenset(str(k["kid"]) for k in usable if "kid" in k)
        self._fetched_at = self._clock()
