"""The one app factory: `create_app(settings, *, http=None)` builds the whole service."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from linker.audit import Audit
from linker.cookies import COOKIE_PATH, TxnCookies, cookie_name
from linker.errors import Code, LinkError
from linker.management import ManagementApi
from linker.observability import Metrics
from linker.pages import SECURITY_HEADERS, error_page, resume_page
from linker.service import DeadEnd, LinkService, NestedLogin, Outcome
from linker.settings import Settings
from linker.store import TransactionStore, open_store
from linker.tenant import Tenant
from linker.upstream import Retrier

# Bad input is answered; anything longer than this is not a token we issued or expect.
MAX_PARAM_LENGTH = 16_384


def create_app(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    store: TransactionStore | None = None,
    clock: Callable[[], float] = time.time,
    retrier: Retrier | None = None,
) -> Starlette:
    """The linking service. Every call to the tenant goes through `http` when given."""
    metrics = Metrics()
    client = http or httpx.AsyncClient(timeout=5.0, follow_redirects=False)
    retrier = retrier or Retrier(clock=clock)
    retrier.on_attempt = lambda outcome: metrics.count(
        "linker_upstream_attempts_total", outcome=outcome
    )
    tenant = Tenant(settings, client, retrier, clock=clock)
    txn_store = store or open_store(settings.store_url.reveal(), clock=clock)
    service = LinkService(
        settings,
        tenant=tenant,
        management=ManagementApi(tenant, client, retrier),
        store=txn_store,
        audit=Audit(settings.audit_file),
        metrics=metrics,
        clock=clock,
    )
    cookies = TxnCookies(settings.action_secrets, max_age=settings.txn_ttl)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await txn_store.aclose()
            if http is None:  # an injected client belongs to the caller
                await client.aclose()

    def render(outcome: Outcome) -> Response:
        if isinstance(outcome, DeadEnd):
            return error_page(
                outcome.error.code.value, outcome.error.description, status=outcome.status
            )
        if isinstance(outcome, NestedLogin):
            response: Response = RedirectResponse(
                outcome.url, status_code=302, headers=SECURITY_HEADERS
            )
            response.set_cookie(
                cookie_name(outcome.txn_id),
                cookies.value(outcome.txn_id),
                max_age=settings.txn_ttl,
                path=COOKIE_PATH,
                secure=settings.secure_cookies,
                httponly=True,
                samesite="lax",
            )
            return response
        response = resume_page(
            outcome.continue_url, state=outcome.state, session_token=outcome.session_token
        )
        if outcome.txn_id:
            response.delete_cookie(
                cookie_name(outcome.txn_id),
                path=COOKIE_PATH,
                secure=settings.secure_cookies,
                httponly=True,
                samesite="lax",
            )
        return response

    def params_of(request: Request) -> dict[str, str] | None:
        params = dict(request.query_params)
        if any(len(v) > MAX_PARAM_LENGTH for v in params.values()):
            return None
        return params

    def client_ip(request: Request) -> str | None:
        return request.client.host if request.client else None

    async def link_start(request: Request) -> Response:
        params = params_of(request)
        if params is None:
            return _too_long()
        outcome = await service.start(
            params.get("session_token", ""), params.get("state", ""), client_ip(request)
        )
        return render(outcome)

    async def link_callback(request: Request) -> Response:
        params = params_of(request)
        if params is None:
            return _too_long()

        def cookie_ok(state: str) -> bool:
            return cookies.matches(request.cookies.get(cookie_name(state)), state)

        outcome = await service.callback(params, cookie_ok=cookie_ok, ip=client_ip(request))
        return render(outcome)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        store_ok = await txn_store.ping()
        keys_ok, reason = tenant.keys.loaded, None
        if not keys_ok:
            try:
                await tenant.keys.keys_for(None)
                keys_ok = True
            except LinkError as error:  # e.g. discovery names another issuer
                keys_ok, reason = False, error.description
        ready = store_ok and keys_ok
        body = {"status": "ready" if ready else "not_ready", "store": store_ok, "keys": keys_ok}
        if reason is not None:
            body["reason"] = reason
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_route(request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    app = Starlette(
        routes=[
            Route("/link/start", link_start, methods=["GET"]),
            Route("/link/callback", link_callback, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_route, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.store = txn_store
    return app


def _too_long() -> Response:
    error = LinkError(Code.INVALID_REQUEST, "A request parameter is too long.")
    return error_page(error.code.value, error.description)
