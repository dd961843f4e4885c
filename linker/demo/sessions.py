"""The sample app's server-side sessions, found by a signed random id in a cookie.

The browser holds only `demo_session=<signed id>` (HttpOnly, SameSite=Lax); tokens, the
CSRF token and pending sign-ins stay in this process. The store is bounded so that anonymous
visits to `/login` cannot grow it without limit.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from itsdangerous import BadSignature, Signer

from linker.client import ConnectRequest, random_token
from linker.client.errors import AskFor

COOKIE_NAME = "demo_session"
SESSION_MAX_AGE = 8 * 3600
PENDING_TTL = 600
MAX_PENDING = 5
MAX_SESSIONS = 10_000

PendingKind = Literal["login", "connect", "link", "unlink", "connect_account"]
NoticeKind = Literal["ok", "refused", "info"]


@dataclass(frozen=True)
class Notice:
    """The outcome of the last attempt, as the profile page shows it: a success, a refusal
    (with what to do next), or plain information."""

    kind: NoticeKind
    title: str
    text: str = ""
    next: str = ""
    code: str = ""


@dataclass(frozen=True)
class Pending:
    """A sign-in or link the browser was sent to, kept until its callback (one use)."""

    kind: PendingKind
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    created_at: float
    connection: str | None = None
    # kind "connect_account": the My Account API's connect flow, finished at the callback.
    connect_request: ConnectRequest | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AgentOutcome:
    """What the last "Call the agent" produced, for the profile page."""

    got_scopes: tuple[str, ...] | None = None  # set: the agent holds a Google token
    link_connection: str | None = None  # set: the user must connect this first
    link_scopes: tuple[str, ...] = ()
    error: str | None = None


@dataclass
class Session:
    """One browser's state in the sample app."""

    id: str = field(repr=False)
    created_at: float
    csrf_token: str = field(default_factory=random_token, repr=False)
    pending: dict[str, Pending] = field(default_factory=dict, repr=False)
    id_token: str | None = field(default=None, repr=False)
    claims: dict[str, Any] = field(default_factory=dict)
    refresh_token: str | None = field(default=None, repr=False)
    last_result: Notice | None = None
    agent: AgentOutcome | None = None
    step_up: AskFor | None = None  # set: the My Account API wants a new sign-in first

    @property
    def signed_in(self) -> bool:
        return self.id_token is not None

    @property
    def user_id(self) -> str:
        return str(self.claims.get("sub", ""))

    def remember(self, state: str, pending: Pending) -> None:
        """Keep a pending sign-in under its state; the oldest goes beyond `MAX_PENDING`."""
        self.pending[state] = pending
        while len(self.pending) > MAX_PENDING:
            del self.pending[next(iter(self.pending))]

    def take(self, state: str, now: float) -> Pending | None:
        """The pending sign-in for `state`, removed so that a replay finds nothing."""
        pending = self.pending.pop(state, None)
        if pending is None or now - pending.created_at > PENDING_TTL:
            return None
        return pending

    def take_results(self) -> Notice | None:
        """The last result's notice, and the agent's outcome, are shown once: after a reload
        or the next action the page shows the state as it is, not an old banner."""
        notice, self.last_result, self.agent = self.last_result, None, None
        return notice

    def csrf_ok(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.csrf_token.encode())


class SessionStore:
    """Sessions by id; the cookie value is the id signed with the app's session secret."""

    def __init__(
        self,
        secret: str,
        *,
        clock: Callable[[], float],
        max_age: int = SESSION_MAX_AGE,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        # Expiry is the store's (against `clock`); the signature only proves the id is ours.
        self._signer = Signer(secret, salt="linker.demo.session")
        self._clock = clock
        self.max_age = max_age
        self._max_sessions = max_sessions
        self._sessions: dict[str, Session] = {}

    def load(self, cookie_value: str | None) -> Session | None:
        """The session a cookie names, if the signature holds and it has not expired."""
        if not cookie_value:
            return None
        try:
            session_id = self._signer.unsign(cookie_value).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        session = self._sessions.get(session_id)
        if session is None or self._clock() - session.created_at > self.max_age:
            self._sessions.pop(session_id, None)
            return None
        return session

    def create(self) -> Session:
        session = Session(id=random_token(), created_at=self._clock())
        self._sessions[session.id] = session
        while len(self._sessions) > self._max_sessions:
            del self._sessions[next(iter(self._sessions))]
        return session

    def drop(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def cookie_value(self, session: Session) -> str:
        return self._signer.sign(session.id).decode()
