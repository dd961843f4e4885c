"""The sample app's own "database": rows kept under each user id, moved by linker's events.

Every sign-in adds a row under the user's `sub`. When linker links two accounts, the
secondary's `sub` stops existing; its `identity.linked` (or `user.merged`) event, verified with
`linker.client.EventReceiver`, moves the rows to the primary, once per event id
(the events recipe in the repository's docs does the same in one database transaction). The
profile page shows the rows and what the last events moved.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from linker.client import (
    EventReceiver,
    IdentityLinked,
    IdentityUnlinked,
    InvalidEvent,
    LinkerEvent,
    UserMerged,
)

PATH = "/linker-events"
MAX_BODY = 64 * 1024
SHOWN_MOVES = 10


class AppRows:
    """Rows per user id, and the events that moved them (in memory: a demo)."""

    def __init__(self, secret: str, *, clock: Callable[[], float]) -> None:
        self._receiver = EventReceiver(secret)
        self._clock = clock
        self.rows: dict[str, list[str]] = {}
        self.applied: set[str] = set()
        self.moves: deque[str] = deque(maxlen=SHOWN_MOVES)

    def signed_in(self, user_id: str) -> None:
        when = datetime.fromtimestamp(self._clock(), UTC).strftime("%H:%M:%S")
        self.rows.setdefault(user_id, []).append(f"signed in at {when} UTC")

    def apply(self, event: LinkerEvent) -> None:
        """Apply one verified event, once."""
        if event.id in self.applied:
            return  # delivered again: at least once means sometimes twice
        self.applied.add(event.id)
        if isinstance(event, IdentityLinked | UserMerged):
            moved = self.rows.pop(event.former_user_id, [])
            self.rows.setdefault(event.primary_user_id, []).extend(moved)
            kind = "user.merged" if isinstance(event, UserMerged) else "identity.linked"
            self.moves.appendleft(
                f"{kind}: moved {len(moved)} row(s) from "
                f"{event.former_user_id} to {event.primary_user_id}"
            )
        elif isinstance(event, IdentityUnlinked):
            self.moves.appendleft(
                f"identity.unlinked: {event.user_id} is a user of its own again (nothing moved)"
            )

    async def receive(self, request: Request) -> PlainTextResponse:
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return PlainTextResponse("too large", status_code=413)
        try:
            event = self._receiver.verify(body, request.headers)
        except InvalidEvent as exc:
            return PlainTextResponse(exc.code, status_code=400)
        self.apply(event)
        return PlainTextResponse("ok")

    def section(self, user_id: str) -> str:
        """The profile page's HTML for `user_id`'s rows and the last events."""
        rows = "".join(f"<li>{escape(row)}</li>" for row in self.rows.get(user_id, []))
        moves = "".join(f"<li><code>{escape(move)}</code></li>" for move in self.moves)
        return (
            "<h2>This app's rows</h2>"
            '<p class="muted">Kept under your user id. When accounts are linked, linker sends '
            "this app a signed event, and the rows of the account that stopped existing move "
            "here.</p>"
            f"<ul>{rows or '<li>none</li>'}</ul>"
            f"<p>Events received:</p><ul>{moves or '<li>none yet</li>'}</ul>"
        )
