"""Request bodies bounded before they are read, on every route.

Reading a body whole and then checking its length lets one unauthenticated POST of a gigabyte
take a gigabyte of a worker's memory. The rules, applied by `linker.web.edge` in front of the app:

- a `Content-Length` above the route's cap is answered 413 at once, nothing read;
- a body without one (chunked) is passed to the app in the pieces the server reads, counted
  as they go, and cut the moment the count passes the cap: the app's `receive` raises
  `BodyTooLarge`, answered 413 if nothing has been sent yet.

The 413 closes the connection (`Connection: close`), so the server does not go on reading
and discarding the rest of the body for a keep-alive. Only `POST /link/commit`
(`{"commit_token": ...}`, a few KiB) and `POST /link/confirm` (a small form) take one; every
other route takes none, and its cap is zero.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import Scope

from linker.core.errors import Signal

# What /link/commit reads: a commit token is under 4 KiB; 64 KiB leaves room to spare.
MAX_COMMIT_BODY = 64 * 1024
# Routes that take a body, and their caps in bytes; every other route takes none.
# The confirmation form: a transaction id, a token and a choice.
MAX_CONFIRM_BODY = 4 * 1024
# The suggestion's two forms: an offer id and a choice (their route reads at most as much).
MAX_SUGGEST_BODY = 4 * 1024
BODY_CAPS: Mapping[str, int] = {
    "/link/commit": MAX_COMMIT_BODY,
    "/link/confirm": MAX_CONFIRM_BODY,
    "/link/suggest/choose": MAX_SUGGEST_BODY,
    "/link/suggest/decline": MAX_SUGGEST_BODY,
}
NO_BODY = 0


class BodyTooLarge(Signal):
    """Raised from `receive` once a body passes its route's cap."""


def declared_length(scope: Scope) -> int | None:
    """The declared length; None for no body, -1 for one of unknown length (chunked, or a
    length that does not read): counted as it comes, and refused unread where none is taken."""
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return -1
            return length if length >= 0 else -1
        if name == b"transfer-encoding":
            chunked = True
    return -1 if chunked else None
