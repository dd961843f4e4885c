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
from linker.devtenant.seed import ProviderAccount, Seed, TenantSettings

CODE_TTL = 60  # Auth0's authorization codes live one minute
CONNECT_TTL = 300  # a connect flow's ticket (the `expires_in` of the connect answer)
MY_ACCOUNT_SCOPES = (
    "create:me:connected_accounts",
    "read:me:connected_accounts",
    "delete:me:connected_accounts",
)
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
    # (name, home URL) of the last application this session was answered to: the way back
    # that an error page offers, e.g. after Back to a login that was already used.
    returned_to: tuple[str, str] | None = None


@dataclass
class PendingLogin:
    request: AuthRequest
    created: float


@dataclass
class SuspendedLogin:
    """A login an Action sent elsewhere with `sendUserTo`, waiting at `/continue`."""

    request: AuthRequest
    session_id: str
    user_id: str
    id_token_claims: dict[str, Any]
    access_token_claims: dict[str, Any]
    created: float
    binding: str = ""  # the value of this login's cookie in the browser that holds it
    primary_user_set: bool = False  # api.authentication.setPrimaryUser ran: once per transaction


@dataclass
class IssuedCode:
    """An authorization code the tenant issued: the login it stands for, until redeemed."""

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
    audience: str | None = None  # the API the login asked for (`audience`); refreshes keep it
    family: str = ""  # every token rotated from one grant shares it (reuse revokes them all)


@dataclass
class ConnectSession:
    """A My Account API connect flow between `/connect` and `/complete`."""

    user_id: str
    client_id: str
    connection: str
    redirect_uri: str
    state: str | None
    code_challenge: str | None
    scopes: tuple[str, ...]
    ticket: str
    created: float
    connect_code: str | None = None  # set when the user allowed it at connect_uri
    login_hint: str | None = None  # authorization_params.login_hint: which provider account
    account: ProviderAccount | None = None  # the provider account the user allowed


@dataclass
class RateWindow:
    """The Management API's rate-limit bucket: a count per fixed window of the tenant's time."""

    start: float = 0.0
    used: int = 0


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
    suspended: dict[str, SuspendedLogin] = field(init=False)
    codes: dict[str, IssuedCode] = field(init=False)
    refresh_tokens: dict[str, RefreshToken] = field(init=False)
    rotated_refresh_tokens: dict[str, str] = field(init=False)  # spent token -> its family
    settings: TenantSettings = field(init=False)
    connects: dict[str, ConnectSession] = field(init=False)  # by auth_session
    management_window: RateWindow = field(init=False)
    # The seed the tenant started with: `reset()` returns to it, whatever seed a test put in.
    configured_seed: Seed = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.configured_seed = self.seed
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

    @property
    def my_account_audience(self) -> str:
        """The My Account API: https://auth0.com/docs/manage-users/my-account-api"""
        return self.base_url + "/me/"

    def audience_scopes(self, audience: str) -> tuple[str, ...] | None:
        """The scopes an API defines, or None when no API has this identifier."""
        if audience == self.my_account_audience:
            return MY_ACCOUNT_SCOPES
        api = self.seed.api(audience)
        return api.scopes if api is not None else None

    def rate_limit(self) -> tuple[dict[str, str], bool]:
        """Count one Management API request: its `x-ratelimit-*` headers, and whether it
        exceeds the limit (refused only when the seed enforces it)."""
        settings, window, now = self.settings, self.management_window, self.now()
        if now >= window.start + settings.management_rate_window:
            window.start, window.used = now, 0
        window.used += 1
        headers = {
            "x-ratelimit-limit": str(settings.management_rate_limit),
            "x-ratelimit-remaining": str(max(0, settings.management_rate_limit - window.used)),
            "x-ratelimit-reset": str(int(window.start + settings.management_rate_window)),
        }
        over = window.used > settings.management_rate_limit
        return headers, over and settings.enforce_management_rate_limit

    def now(self) -> float:
        return self.clock() + self.clock_offset

    def reset(self, seed: Seed | None = None) -> None:
        """Back to the configured seed (or to `seed`, until the next reset): users, sessions,
        codes, faults and the log."""
        self.seed = self.configured_seed if seed is None else seed
        self.directory = Directory(self.seed)
        self.sessions = {}
        self.pending = {}
        self.suspended = {}
        self.codes = {}
        self.refresh_tokens = {}
        self.rotated_refresh_tokens = {}
        self.settings = self.seed.settings
        self.connects = {}
        self.management_window = RateWindow()
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

    def suspend(self, suspended: SuspendedLogin) -> str:
        self._expire()
        key = secrets.token_urlsafe(24)
        self.suspended[key] = suspended
        return key

    def peek_suspended(self, key: str) -> SuspendedLogin | None:
        """The suspended login, left in place (to check the browser before taking it)."""
        suspended = self.suspended.get(key)
        if suspended is None or self.now() - suspended.created > LOGIN_TTL:
            return None
        return suspended

    def take_suspended(self, key: str) -> SuspendedLogin:
        """One use: a second `/continue` with the same state finds nothing. The caller found
        it with `peek_suspended` first."""
        return self.suspended.pop(key)

    def issue_code(self, code: IssuedCode) -> str:
        self._expire()
        key = secrets.token_urlsafe(32)
        self.codes[key] = code
        return key

    def issue_refresh_token(self, token: RefreshToken) -> str:
        if not token.family:
            token.family = secrets.token_urlsafe(12)
        key = secrets.token_urlsafe(40)
        self.refresh_tokens[key] = token
        return key

    def expire_connects(self) -> None:
        now = self.now()
        self.connects = {k: v for k, v in self.connects.items() if now - v.created <= CONNECT_TTL}

    def _expire(self) -> None:
        now = self.now()
        self.pending = {k: v for k, v in self.pending.items() if now - v.created <= LOGIN_TTL}
        self.suspended = {k: v for k, v in self.suspended.items() if now - v.created <= LOGIN_TTL}
        # Used codes are kept until they expire so that a replay is told apart from garbage.
        self.codes = {k: v for k, v in self.codes.items() if now - v.issued_at <= CODE_TTL}
        self.sessions = {k: v for k, v in self.sessions.items() if now - v.auth_time <= SESSION_TTL}
