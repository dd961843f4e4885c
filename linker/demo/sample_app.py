"""A small Regular Web App that shows account linking to a person.

Sign in at the tenant (code flow, PKCE, nonce), see your identities, press Link/Unlink (a
link request built by `linker.client`, with your ID token as the hint), and read the result
the tenant put in the new ID token. "Call the agent" asks Token Vault for a Google Calendar
token and, when Token Vault has none, offers to connect the calendar: the seed's Google
connection is used to log in, so Token Vault reads its identities and a link fills it
(`via="link"`). "Connect Slack" is today's way, for a connection with Connected Accounts for
Token Vault: the app gets a My Account API token from the user's refresh token (Multi-Resource
Refresh Token), starts the connect flow, and completes it at `/callback`; when the API's 2FA
rule wants a newer sign-in, the page says so and offers it (`StepUpRequired`).

Routes: `GET /`, `GET /login` (`?step_up=second_factor|sign_in`), `GET /callback`,
`POST /link`, `POST /unlink`, `POST /connect`, `POST /connect-account`, `POST /agent`,
`GET /agent/calendar` (JSON, for agent builders), `POST /logout`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from linker.client import (
    ConnectedAccounts,
    ConnectError,
    FederatedToken,
    LinkRequired,
    StepUpRequired,
    TokenVault,
    TokenVaultError,
    link_required_handler,
)
from linker.client.errors import MFA_ACR
from linker.demo import app_rows, authorize
from linker.demo.config import SampleAppConfig
from linker.demo.forms import read_form
from linker.demo.pages import (
    describe_link_result,
    describe_suggestion,
    error_page,
    favicon,
    landing_page,
    profile_page,
)
from linker.demo.refusals import explain
from linker.demo.sessions import (
    COOKIE_NAME,
    AgentOutcome,
    Notice,
    NoticeKind,
    Pending,
    Session,
    SessionStore,
)
from linker.demo.tenant_client import DemoError, TenantClient, Tokens, closing

LINK_RESULT_CLAIM = "https://linker/link_result"
STEP_UP_ASKS = frozenset({"second_factor", "sign_in"})
CALENDAR_CONNECTION = "google-oauth2"
CALENDAR_SCOPES = ("https://www.googleapis.com/auth/calendar.readonly",)
HTTP_TIMEOUT = 10.0
# Auth0 connection names: letters, digits and dashes (plus "_" in custom ones).
_CONNECTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_MAX_FIELD_CHARS = 1000


def create_sample_app(
    config: SampleAppConfig,
    *,
    http: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The sample app; every call to the tenant goes through `http` when given."""
    client = http if http is not None else httpx.AsyncClient(timeout=HTTP_TIMEOUT)
    demo = SampleApp(config, client, clock=clock)

    return Starlette(
        routes=[
            Route("/", demo.home),
            Route("/favicon.ico", favicon),
            Route("/login", demo.login),
            Route("/callback", demo.callback),
            Route("/link", demo.link, methods=["POST"]),
            Route("/unlink", demo.unlink, methods=["POST"]),
            Route("/connect", demo.connect, methods=["POST"]),
            Route("/connect-account", demo.connect_account, methods=["POST"]),
            Route("/agent", demo.agent, methods=["POST"]),
            Route("/agent/calendar", demo.agent_calendar),
            Route("/logout", demo.logout, methods=["POST"]),
            *(
                [Route(app_rows.PATH, demo.rows.receive, methods=["POST"])]
                if demo.rows is not None
                else []
            ),
        ],
        exception_handlers={LinkRequired: link_required_handler},
        lifespan=closing(client if http is None else None),
    )


class SampleApp:
    """The sample app's state (sessions, tenant client, Token Vault) and its route handlers."""

    def __init__(
        self, config: SampleAppConfig, http: httpx.AsyncClient, *, clock: Callable[[], float]
    ) -> None:
        self.config = config
        self.clock = clock
        self.sessions = SessionStore(config.session_secret, clock=clock)
        self.tenant = TenantClient(config, http, clock=clock)
        link = config.link_settings
        self.vault = TokenVault(
            domain=link.domain,
            client_id=config.client_id,
            client_secret=config.client_secret,
            http=http,
            scheme=link.scheme,
            via={CALENDAR_CONNECTION: "link"},  # the seed's Google connection logs in only
        )
        self.accounts = ConnectedAccounts(domain=link.domain, http=http, scheme=link.scheme)
        secret = config.events_secret
        self.rows = app_rows.AppRows(secret, clock=clock) if secret is not None else None

    # -- signing in --------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        session = self._session(request)
        if session is None or not session.signed_in:
            notice = session.take_results() if session else None
            return landing_page(notice, spa_url=self.config.spa_url)
        agent = session.agent
        notice = session.take_results()
        try:
            identities = await self.tenant.identities(session.user_id)
        except DemoError as exc:
            return profile_page(session, None, str(exc), notice, agent)
        rows = self.rows.section(session.user_id) if self.rows is not None else ""
        return profile_page(session, identities, None, notice, agent, rows)

    async def login(self, request: Request) -> Response:
        session = self._session(request) or self.sessions.create()
        step_up = request.query_params.get("step_up")
        extra = {"prompt": "login"} if step_up in STEP_UP_ASKS else {}
        if step_up == "second_factor":
            extra["acr_values"] = MFA_ACR
        attempt = authorize.sign_in(self.config, now=self.clock(), extra=extra)
        return self._with_cookie(self._send(session, attempt), session)

    async def callback(self, request: Request) -> Response:
        """The tenant's redirect back from any attempt: state first (one use), then the code."""
        query = request.query_params
        session = self._session(request)
        pending = session.take(query.get("state", ""), self.clock()) if session else None
        if session is None or pending is None:
            return error_page(
                "This sign-in was not started from this browser, or was already finished "
                "(state mismatch). Start again from the home page."
            )
        if pending.kind == "connect_account":
            return _home(session, await self._account_connected(session, pending, request))
        error = query.get("error")
        if error is not None:
            description = query.get("error_description") or error
            why = explain(pending.kind, error, description, pending.connection)
            # Cancelling is the user's own choice: told plainly, not as a refusal.
            kind: NoticeKind = "info" if why.code == "cancelled" else "refused"
            return _home(session, Notice(kind, why.title, why.what, why.next, why.code))
        try:
            tokens = await self.tenant.redeem_code(
                query.get("code", ""), code_verifier=pending.code_verifier, nonce=pending.nonce
            )
        except DemoError as exc:
            return _home(session, _failed(exc))
        if pending.kind == "login":
            return self._signed_in(session, tokens)
        # Linking and unlinking both come back as the same (primary) user.
        if tokens.claims.get("sub") != session.user_id:
            return _home(
                session,
                Notice(
                    "refused",
                    "Refused: the tenant answered for another user.",
                    "The sign-in that came back is not the one this session belongs to.",
                    "Sign out, sign in again, and retry.",
                ),
            )
        sign_in(session, tokens)
        session.agent = None
        claim = tokens.claims.get(LINK_RESULT_CLAIM)
        if pending.kind == "connect" and isinstance(claim, dict):
            return _home(session, await self._connected(session, claim))
        return _home(session, describe_link_result(claim))

    async def _connected(self, session: Session, claim: dict[str, object]) -> Notice:
        """After "Connect Google Calendar": ask Token Vault again at once, and say what it gave."""
        how = (
            "Google was linked already, so linker had you sign in at Google again to grant it."
            if claim.get("status") == "already_linked"
            else "linker linked your Google account with that scope."
        )
        try:
            token = await self._calendar_token(session)
        except LinkRequired:
            return Notice(
                "refused",
                "Google Calendar is still not connected",
                f"{how} Token Vault still has no Google token with the calendar scope.",
                "Press Call the agent, then Connect Google Calendar, and grant the access.",
            )
        except (TokenVaultError, DemoError) as exc:
            return _failed(exc)
        session.agent = AgentOutcome(got_scopes=token.scopes)
        return Notice(
            "ok",
            "Google Calendar connected",
            f"{how} The agent asked Token Vault right away and got a Google token "
            f"(scopes {' '.join(token.scopes) or 'none listed'}).",
        )

    # -- Connected Accounts (the My Account API) -------------------------------------------

    async def connect_account(self, request: Request) -> Response:
        """Connect `connection` through the My Account API, with a token from MRRT."""
        session, form = await self._signed_in_form(request)
        connection = _connection(form)
        try:
            token = await self._my_account_token(session)
            started = await self.accounts.start(
                token, connection=connection, redirect_uri=self.config.redirect_uri
            )
        except StepUpRequired as needed:
            return _home(session, self._step_up(session, needed))
        except (ConnectError, DemoError) as exc:
            return _home(session, _failed(exc))
        pending = Pending(
            kind="connect_account",
            nonce="",
            code_verifier=started.code_verifier,
            created_at=self.clock(),
            connection=connection,
            connect_request=started,
        )
        session.remember(started.state, pending)
        return RedirectResponse(started.url, status_code=303)

    async def _account_connected(
        self, session: Session, pending: Pending, request: Request
    ) -> Notice:
        """The browser is back from the connect page: complete the flow (the whole callback
        URL goes in, so a connect_code in its fragment would count too)."""
        assert pending.connect_request is not None
        try:
            token = await self._my_account_token(session)
            account = await self.accounts.complete(token, pending.connect_request, str(request.url))
        except StepUpRequired as needed:
            return self._step_up(session, needed)
        except ConnectError as exc:
            if exc.code == "access_denied":
                return Notice("info", "Not connected", "You did not allow the connection.")
            return _failed(exc)
        except DemoError as exc:
            return _failed(exc)
        scopes = " ".join(account.scopes) or "none listed"
        return Notice(
            "ok",
            f"{account.connection} connected",
            f"Token Vault now keeps its tokens for this app's agents (scopes {scopes}).",
        )

    async def _my_account_token(self, session: Session) -> str:
        if session.refresh_token is None:
            raise DemoError("This session has no refresh token; sign in again.")
        token = await self.accounts.token_from_refresh_token(
            session.refresh_token,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
        )
        session.step_up = None
        return token.access_token

    def _step_up(self, session: Session, needed: StepUpRequired) -> Notice:
        session.step_up = needed.ask_for
        return Notice(
            "refused",
            "Sign in again to connect an account",
            needed.message,
            "Press Sign in again below, then connect the account again.",
            needed.code,
        )

    # -- link, unlink, connect ---------------------------------------------------------------

    async def link(self, request: Request) -> Response:
        session, form = await self._signed_in_form(request)
        return await self._link(session, connection=_connection(form))

    async def unlink(self, request: Request) -> Response:
        session, form = await self._signed_in_form(request)
        identity = _field(form, "identity")
        if "|" not in identity:
            raise HTTPException(400, "identity must be provider|user_id")
        return await self._link(
            session, connection=_connection(form), action="unlink", requested_identity=identity
        )

    async def connect(self, request: Request) -> Response:
        """Grant `connection_scope` on `connection` for Token Vault, through linker."""
        session, form = await self._signed_in_form(request)
        scopes = _field(form, "connection_scope").split()
        try:
            attempt = await self._connect_attempt(session, _connection(form), scopes)
        except DemoError as exc:
            return _home(session, _failed(exc))
        return self._send(session, attempt)

    async def _link(
        self,
        session: Session,
        *,
        connection: str,
        action: str = "link",
        requested_identity: str | None = None,
    ) -> Response:
        try:
            hint = await self._fresh_id_token(session)
        except DemoError as exc:
            return self._signed_out(session, f"{exc} Sign in again.")
        link = self.config.link_settings.link_request(
            connection=connection,
            id_token_hint=hint,
            action=action,
            requested_identity=requested_identity,
        )
        return self._send(session, authorize.link(link, now=self.clock()))

    async def _connect_attempt(
        self, session: Session, connection: str, scopes: Sequence[str]
    ) -> authorize.Attempt:
        # linker links the connection, or, if it is linked already, has the user sign in
        # there again so that the tenant grants the new scopes.
        link = self.config.link_settings.link_request(
            connection=connection,
            id_token_hint=await self._fresh_id_token(session),
            connection_scope=scopes,
        )
        return authorize.link(link, now=self.clock(), connect=True)

    async def _fresh_id_token(self, session: Session) -> str:
        """The session's ID token, refreshed first when linker would find it too old."""
        assert session.id_token is not None
        issued = session.claims.get("iat")
        age = self.clock() - issued if isinstance(issued, int | float) else float("inf")
        if age <= self.config.hint_refresh_after:
            return session.id_token
        if session.refresh_token is None:
            raise DemoError("Your sign-in is too old to link with, and cannot be refreshed.")
        tokens = await self.tenant.refresh(session.refresh_token)
        if tokens.claims.get("sub") != session.user_id:
            raise DemoError("The refreshed ID token is for another user.")
        sign_in(session, tokens)
        return tokens.id_token

    # -- the agent ---------------------------------------------------------------------------

    async def agent(self, request: Request) -> Response:
        """Ask Token Vault as the in-app agent would; the outcome shows on the profile page."""
        session, _ = await self._signed_in_form(request)
        try:
            token = await self._calendar_token(session)
        except LinkRequired as needed:
            session.agent = AgentOutcome(
                link_connection=needed.connection, link_scopes=needed.scopes
            )
        except (TokenVaultError, DemoError) as exc:
            session.agent = AgentOutcome(error=str(exc))
        else:
            session.agent = AgentOutcome(got_scopes=token.scopes)
        return RedirectResponse("/", status_code=303)

    async def agent_calendar(self, request: Request) -> Response:
        """The agent as a JSON API: 200 with the token's scope, or 401 `link_required`."""
        session = self._session(request)
        if session is None or not session.signed_in:
            return JSONResponse({"error": "login_required"}, status_code=401)
        try:
            token = await self._calendar_token(session)
        except LinkRequired as needed:
            try:
                attempt = await self._connect_attempt(session, needed.connection, needed.scopes)
            except DemoError as exc:
                return _agent_failed(exc)
            # A usable link_url: the browser may follow it, so its callback must find this state.
            session.remember(attempt.state, attempt.pending)
            raise LinkRequired(needed.connection, needed.scopes, attempt.url) from None
        except (TokenVaultError, DemoError) as exc:
            return _agent_failed(exc)
        # The Google token stays with the agent; the browser learns only what it allows.
        return JSONResponse(
            {
                "connection": CALENDAR_CONNECTION,
                "scope": token.scope,
                "expires_in": token.expires_in,
            },
            headers={"cache-control": "no-store"},
        )

    async def _calendar_token(self, session: Session) -> FederatedToken:
        if session.refresh_token is None:
            raise DemoError("This session has no refresh token; sign in again.")
        return await self.vault.exchange(
            session.refresh_token, connection=CALENDAR_CONNECTION, scopes=CALENDAR_SCOPES
        )

    # -- sessions ----------------------------------------------------------------------------

    async def logout(self, request: Request) -> Response:
        """Sign out here and at the tenant, so that the next sign-in may choose another user."""
        session, _ = await self._signed_in_form(request)
        response = self._signed_out(session, "You are signed out.")
        response.headers["location"] = authorize.logout_url(self.config)
        return response

    def _session(self, request: Request) -> Session | None:
        return self.sessions.load(request.cookies.get(COOKIE_NAME))

    async def _signed_in_form(self, request: Request) -> tuple[Session, dict[str, str]]:
        """The signed-in session and the form, when the form carries the session's CSRF token."""
        form = await read_form(request)
        session = self._session(request)
        if session is None or not session.signed_in or not session.csrf_ok(form.get("csrf", "")):
            raise HTTPException(403, "This form is stale or forged; reload the page.")
        return session, form

    def _send(self, session: Session, attempt: authorize.Attempt) -> Response:
        session.remember(attempt.state, attempt.pending)
        return RedirectResponse(attempt.url, status_code=303)

    def _signed_in(self, previous: Session, tokens: Tokens) -> Response:
        # A new session id at sign-in, so an id planted before it (session fixation) is useless.
        self.sessions.drop(previous)
        session = self.sessions.create()
        sign_in(session, tokens)
        if self.rows is not None:  # the app's own row of this sign-in, under the user's sub
            self.rows.signed_in(session.user_id)
        suggested = describe_suggestion(tokens.claims.get(LINK_RESULT_CLAIM))
        if suggested is not None:
            session.last_result = suggested
        return self._with_cookie(RedirectResponse("/", status_code=303), session)

    def _signed_out(self, session: Session, message: str) -> Response:
        self.sessions.drop(session)
        fresh = self.sessions.create()
        fresh.last_result = Notice("info", message)
        return self._with_cookie(RedirectResponse("/", status_code=303), fresh)

    def _with_cookie(self, response: Response, session: Session) -> Response:
        response.set_cookie(
            COOKIE_NAME,
            self.sessions.cookie_value(session),
            max_age=self.sessions.max_age,
            httponly=True,
            samesite="lax",
            secure=self.config.secure_cookies,
        )
        return response


def sign_in(session: Session, tokens: Tokens) -> None:
    """Keep a verified sign-in in the session (a refresh token only replaces a present one)."""
    session.id_token = tokens.id_token
    session.claims = tokens.claims
    if tokens.refresh_token is not None:
        session.refresh_token = tokens.refresh_token


def _home(session: Session, notice: Notice) -> Response:
    session.last_result = notice
    return RedirectResponse("/", status_code=303)


def _failed(exc: Exception) -> Notice:
    return Notice(
        "refused", "That did not work", str(exc), "Try again; sign in again if it persists."
    )


def _agent_failed(exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "agent_failed", "error_description": str(exc)}, status_code=502)


def _field(form: dict[str, str], name: str) -> str:
    value = form.get(name, "")
    if len(value) > _MAX_FIELD_CHARS:
        raise HTTPException(400, f"{name} is too long")
    return value


def _connection(form: dict[str, str]) -> str:
    connection = form.get("connection", "")
    if not _CONNECTION.fullmatch(connection):
        raise HTTPException(400, "connection must be a connection name such as github")
    return connection
