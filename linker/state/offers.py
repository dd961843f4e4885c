"""What a suggestion remembers between its page and the user's choice: `offer:` keys.

An offer lives as long as a transaction (`LINKER_TXN_TTL`) and is taken once: the first
choice (link one candidate, or refuse) spends it, so a page reloaded, replayed or opened in
another browser can choose nothing a second time.
"""

from __future__ import annotations

from linker.core.suggest import Offer
from linker.state.store import Store

PREFIX = "offer:"


class Offers:
    """The open offers of one deployment, in its store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def open(self, offer: Offer, *, ttl: float) -> None:
        await self.store.put(PREFIX + offer.id, offer.dumps(), ttl)

    async def take(self, offer_id: str) -> Offer | None:
        raw = await self.store.take(PREFIX + offer_id)
        return None if raw is None else Offer.loads(offer_id, raw)
