"""The tenant's signing keys, cached, with a guarded refetch for an unknown `kid`.

Auth0 rotates keys by publishing the next one before signing with it, so an unknown `kid`
usually means "refetch". A token with a made-up `kid` must not turn into a request to the
tenant every time, hence the cooldown between refetches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from linker.core.errors import Code, LinkError


class NoSigningKey(LinkError):
    """The tenant's key set was read, and holds no key to verify RS256 with."""

    def __init__(self) -> None:
        super().__init__(
            Code.UPSTREAM_UNAVAILABLE, "The Auth0 tenant publishes no RS256 signing key."
        )


Fetch = Callable[[], Awaitable[dict[str, Any]]]


class KeyNotLoaded(LinkError):
    """A token names a key the cached set lacks, and the set cannot be looked up again yet
    (it is unreadable, or was read moments ago): "try again", never a refusal of the user."""

    def __init__(self) -> None:
        super().__init__(
            Code.UPSTREAM_UNAVAILABLE,
            "The Auth0 tenant's signing keys could not be read just now; try again in a minute.",
        )


# Unknown key ids remembered at most (an attacker may send any number of them).
MAX_UNKNOWN_KIDS = 1024


class KeyCache:
    """Holds the JWKS; `keys_for(kid)` refetches at most once per `cooldown` seconds.

    A token with a `kid` the set lacks gets the set looked up again once (OpenID Connect Core
    10.1.1: the signer publishes a new key before it signs with it), within that rate bound. It
    is refused only when a set read after the `kid` was first seen lacks it; while the set
    cannot be read, or may not be read again yet, the answer is `upstream_unavailable`, which
    the user may retry. A fetch that succeeds lifts the cool-down of a failed one at once.
    """

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
        self._fetched_at = float("-inf")  # when the set held was asked for
        self._tried_at = float("-inf")  # when a set was last asked for, read or not
        self._failure: LinkError | None = None  # why the last fetch failed, if it did
        self._first_seen: dict[str, float] = {}  # unknown kids, and when each was first seen
        self._lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return self._keys is not None

    async def keys_for(self, kid: str | None) -> KeySet:
        """The key set to verify a token whose header names `kid`.

        Raises `upstream_unavailable` when no set could be read, or when `kid` is unknown
        and no set read since it was first seen says so. A failed fetch is not repeated within
        the cooldown: `/readyz` probes and bad tokens must not turn an outage of the tenant
        into a stream of requests to it. Keys already held are kept while a refresh fails.
        """
        if self._usable(kid):
            assert self._keys is not None
            return self._keys
        seen = self._seen(kid)
        async with self._lock:
            # Another request may have refreshed while this one waited for the lock.
            if self._usable(kid) or self._looked_up(seen):
                assert self._keys is not None
                return self._keys
            if self._clock() - self._tried_at < self._cooldown:
                return self._held(kid, self._failure or KeyNotLoaded())
            try:
                await self._refresh()
            except LinkError as failure:
                self._failure = failure
                return self._held(kid, failure)
        assert self._keys is not None
        return self._keys

    def _fresh(self) -> bool:
        return self._keys is not None and self._clock() - self._fetched_at <= self._max_age

    def _usable(self, kid: str | None) -> bool:
        return self._fresh() and (kid is None or kid in self._kids)

    def _seen(self, kid: str | None) -> float | None:
        """When the unknown `kid` was first seen (None for a token without one)."""
        if kid is None or kid in self._kids:
            return None
        if len(self._first_seen) >= MAX_UNKNOWN_KIDS and kid not in self._first_seen:
            self._first_seen.clear()
        return self._first_seen.setdefault(kid, self._clock())

    def _looked_up(self, seen: float | None) -> bool:
        """A set asked for since the unknown kid was first seen, recently: it lacks the kid,
        and the token is refused (by the verifier) without another fetch."""
        if seen is None or not self._fresh():
            return False
        return self._fetched_at >= seen and self._clock() - self._fetched_at < self._cooldown

    def _held(self, kid: str | None, failure: LinkError) -> KeySet:
        """The set held, for a `kid` it has, even stale; otherwise `failure` is raised."""
        if self._keys is None or (kid is not None and kid not in self._kids):
            raise failure
        return self._keys

    async def _refresh(self) -> None:
        asked = self._tried_at = self._clock()
        document = await self._fetch()
        listed = document.get("keys")
        # Only signing keys for RS256 matter; anything else in the set is ignored.
        usable = [
            k
            for k in (listed if isinstance(listed, list) else [])
            if isinstance(k, dict) and k.get("kty") == "RSA" and k.get("use", "sig") == "sig"
        ]
        if not usable:
            # A key set with nothing to verify RS256 with is an outage of the tenant's keys.
            raise NoSigningKey()
        try:
            keys = KeySet.import_key_set({"keys": usable})
        except (JoseError, ValueError, TypeError, KeyError):
            raise LinkError(
                Code.UPSTREAM_UNAVAILABLE, "The Auth0 tenant's signing keys are unreadable."
            ) from None
        self._keys = keys
        self._kids = frozenset(str(k["kid"]) for k in usable if "kid" in k)
        self._fetched_at, self._failure = asked, None
        for known in self._kids & self._first_seen.keys():
            del self._first_seen[known]
