"""The HTTP client a helper either borrows or owns, and closes only when it owns it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx

DEFAULT_TIMEOUT = 10.0


class HttpOwner:
    """Base of the client helpers: `async with` closes the HTTP client if the helper made it
    (a client passed in belongs to the caller and stays open)."""

    def __init__(self, http: httpx.AsyncClient | None) -> None:
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this helper created it."""
        if self._owns_http:
            await self._http.aclose()
