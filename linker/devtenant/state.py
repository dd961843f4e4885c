"""Everything a running dev tenant remembers, in one object that a test can reach and steer.

`TenantState` lives on `app.state.tenant`. Time comes from `state.now()`, built from the
replaceable `clock` callable plus an offset the admin API can advance, so tests of expiry
set the clock instead of sleeping. Short-lived records (pending logins, suspended
transactions, codes) are dropped when they expire, on the next write.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from linker.devtenant.authorize_request import AuthRequest
from linker.devtenant.directory import Directory
from linker.devtenant.faults import FaultBook, RequestLog
from linker.devtenant.keys import KeyRing
from linker.devtenant.seed import Seed

CODE_TTL = 60  # Auth0's authorization codes live one minute
LOGIN_TTL = 3600  # an open login page, or a transaction suspended by an Action redirect
SESSION_TTL = 3 * 24 * 3600


@dataclass(frozen=True)
class AuthMethod:
    name: str  # "federated" | "pwd" | "mfa"
    timestamp: float


@dataclass
class Session:
    """The SSO session behind the `auth0` cookie."""

    id: str
    user_id: str
    identity_id: str  # the identity signed in with (a linked secondary signs in as its owner)
    connection: str
    auth_time: float
    methods: tuple[AuthMethod, ...]


@dataclass
class PendingLogin:
    request: AuthRequest
    created: float


@dataclass
class Suspended:
    """A login an Action sent elsewhere with `sendUserTo`, waiting at `/continue`."""

    request: AuthRequest
    session_id: str
    user_id: str
    id_token_claims: dict[str, Any]
    access_token_claims: dict[str, Any]
    created: float
    binding: str = ""  # the value of this login's cookie in the browser that holds it


@dataclass
class Code:
    request: AuthRequest
    user_id: str
    session_id: str
    auth_time: float
    id_token_claims: dict[str, Any]
    access_token_claims: dict[str, Any]
    issued_at: float
    used: bool = False


@dataclass
class RefreshToken:
    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    session_id: str
    auth_time: float


@dataclass
class TenantState:
    base_url: str
    seed: Seed
    action_secrets: Mapping[str, str]
    clock: Callable[[], float] = time.time
    clock_offset: float = 0.0
    keys: KeyRing = field(default_factory=KeyRing)
    faults: FaultBook = field(default_factory=FaultBook)
    requests: RequestLog = field(default_factory=RequestLog)
    directory: Directory = field(init=False)
    sessions: dict[str, Session] = field(init=False)
    pending: dict[str, PendingLogin] = field(init=False)
    suspended: dict[str, Suspended] = field(init=False)
    codes: dict[str, Code] = field(init=False)
    refresh_tokens: dict[str, RefreshToken] = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.reset()

    @property
    def issuer(self) -> str:
        return self.base_url + "/"

    @property
    def domain(self) -> str:
        """host:port, what Auth0 calls the tenant's domain (and puts in `iss` of start tokens)."""
        return urlsplit(self.base_url).netloc

    @property
    def management_audience(self) -> str:
        return self.base_url + "/api/v2/"

    def now(self) -> float:
        return self.clock() + self.clock_offset

    def reset(self, seed: Seed | None = None) -> None:
        """Back to the seed (or a new one): users, sessions, codes, faults and the log."""
        if seed is not None:
            self.seed = seed
        self.directory = Directory(self.seed)
        self.sessions = {}
        self.pending = {}
        self.suspended = {}
        self.codes = {}
        self.refresh_tokens = {}
        self.faults.clear()
        self.requests.clear()

    def new_pending(self, request: AuthRequest) -> str:
        self._expire()
        key = secrets.token_urlsafe(24)
        self.pending[key] = PendingLogin(request=request, created=self.now())
        return key

    def pending_login(self, key: str) -> PendingLogin | None:
        pending = self.pending.get(key)
        if pending is None or self.now() - pending.created > LOGIN_TTL:
            return None
        return pending

    def new_session(
        self, user_id: str, identity_id: str, connection: str, methods: tuple[AuthMethod, ...]
    ) -> Session:
        self._expire()
        session = Session(
            id=secrets.token_urlsafe(24),
            user_id=user_id,
            identity_id=identity_id,
            connection=connection,
            auth_time=self.now(),
            methods=methods,
        )
        self.sessions[session.id] = session
        return session

    def session(self, session_id: str | None) -> Session | None:
        """A live session whose user still exists (a user linked away has none)."""
        session = self.sessions.get(session_id or "")
        if session is None or self.directory.get(session.user_id) is None:
            return None
        if self.now() - session.auth_time > SESSION_TTL:
            return None
        return session

    def suspend(self, suspended: Suspended) -> str:
        self._expire()
        key = secrets.token_urlsafe(24)
        self.suspended[key] = suspended
        return key

    def peek_suspended(self, key: str) -> Suspended | None:
        """The suspended login, left in place (to check the browser before taking it)."""
        suspended = self.suspended.get(key)
        if suspended is None or self.now() - suspended.created > LOGIN_TTL:
            return None
        return suspended

    def take_suspended(self, key: str) -> Suspended | None:
        """One use: a second `/continue` with the same state finds nothing."""
        suspended = self.suspended.pop(key, None)
        if suspended is None or self.now() - suspended.created > LOGIN_TTL:
            return None
        return suspended

    def issue_code(self, code: Code) -> str:
        self._expire()
        key = secrets.token_urlsafe(32)
        self.codes[key] = code
        return key

    def issue_refresh_token(self, token: RefreshToken) -> str:
        key = secrets.token_urlsafe(40)
        self.refresh_tokens[key] = token
        return key

    def _expire(self) -> None:
        now = self.now()
        self.pending = {k: v for k, v in self.pending.items() if now - v.created <= LOGIN_TTL}
        self.suspended = {k: v for k, v in self.suspended.items() if now - v.created <= LOGIN_TTL}
        # Used codes are kept until they expire so that a replay is told apart from garbage.
        self.codes = {k: v for k, v in self.codes.items() if now - v.issued_at <= CODE_TTL}
        self.sessions = {k: v for k, v in self.sessions.items() if now - v.auth_time <= SESSION_TTL}
