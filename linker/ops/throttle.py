"""Start admission per client address and per application, before a start writes anything.

A flood of valid starts (a script behind one address, or one application gone wrong) would
otherwise fill the store until it refuses everyone's new attempts. Each start takes a token
from two buckets in the shared store, so that every replica counts against the same limits:
one for its client address (as the trusted-proxy rules give it, `linker.app`) and one for its
application (`client_id`). An empty bucket answers `failed` `throttled`, retryable, with the
start token not yet marked used. Both limits are off unless set
(`LINKER_START_LIMIT_PER_ADDRESS`, `LINKER_START_LIMIT_PER_CLIENT`): behind a proxy that is
not named in `LINKER_TRUSTED_PROXIES`, every user would share the proxy's address.
"""

from __future__ import annotations

import base64
import hashlib

from linker.core.errors import Code, LinkError
from linker.runtime import Runtime


def _bucket(kind: str, name: str) -> str:
    # A digest: a fixed, short key whatever the address or client id looks like.
    digest = hashlib.blake2b(name.encode(), digest_size=12).digest()
    return f"throttle:{kind}:{base64.urlsafe_b64encode(digest).decode()}"


def throttled() -> LinkError:
    return LinkError(
        Code.THROTTLED,
        "Too many links were started from here just now, and nothing was changed. "
        "Please try again in a minute.",
    )


async def admit(rt: Runtime, client_id: str, ip: str | None) -> None:
    """Take this start's tokens; raises `throttled()` (counted, logged once a minute at most)
    when a bucket is empty, and `StoreUnavailable` / `NoRoom` as the store does."""
    settings, store = rt.settings, rt.attempts.store
    limits = (
        ("address", ip, settings.start_limit_per_address),
        ("client", client_id, settings.start_limit_per_client),
    )
    for kind, name, limit in limits:
        if limit is None or not name:
            continue
        burst, seconds = limit
        if not await store.spend(_bucket(kind, name), burst=burst, per_second=burst / seconds):
            rt.refusals.refused(rt.metrics, f"throttled_{kind}")
            raise throttled()
