"""The one error the OAuth endpoints raise, mapped to Auth0's JSON body only at the route."""

from __future__ import annotations

from typing import Any


class TokenError(Exception):
    """An OAuth error answer: HTTP status, `error` code and `error_description`."""

    def __init__(self, status: int, error: str, description: str, **headers: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}
