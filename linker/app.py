"""The one app factory: `create_app(settings, *, http=None)` builds the whole service.

`create_app` only wires: the parts go into a `Runtime` on `app.state.runtime`, and the
endpoints below are plain functions that read it. Rendering lives in `linker.web.render`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from linker.core.errors import LinkError
from linker.ops import serving
from linker.ops.redaction import install_redaction
from linker.ops.webhooks import event_sender
from linker.runtime import Runtime, build_runtime
from linker.settings import Settings
from linker.state.store import RedisStore, Store
from linker.state.store_clock import skew_problem
from linker.steps import delivery as events
from linker.steps.callback import callback
from linker.steps.commit import commit
from linker.steps.confirm import choose
from linker.steps.reconcile import reconcile, run_in_background
from linker.steps.start import start
from linker.tenant.http import upstream_client
from linker.tenant.transport import Upstream
from linker.tenant.upstream import Retrier
from linker.web import suggest as suggest_web
from linker.web.body_limit import BODY_CAPS, MAX_COMMIT_BODY
from linker.web.cookies import cookie_name
from linker.web.edge import Edge
from linker.web.render import render, too_long

# Bad input is answered; anything longer than this is not a token we issued or expect.
MAX_PARAM_LENGTH = 16_384
# The confirmation form has three fields; a few more are tolerated, no more are parsed.
CONFIRM_FIELDS = 8


def create_app(
    settings: Settings,
    *,
    http: Upstream | None = None,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
    retrier: Retrier | None = None,
) -> Starlette:
    """The linking service. Every call to the tenant goes through `http` when given (any
    `linker.tenant.transport.Upstream`); its owner closes it. Else `linker.tenant.http`'s client."""
    client = upstream_client(settings) if http is None else http
    runtime = build_runtime(settings, http=client, store=store, clock=clock, retrier=retrier)
    sender = event_sender(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.store_clock.offset()  # this host's clock against the store's, at once
        background = [asyncio.create_task(run_in_background(runtime))]
        if sender is not None:  # events are sent by a task of their own, never by a request
            background.append(asyncio.create_task(events.run_in_background(runtime, sender)))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if sender is not None:
                await sender.aclose()
            await runtime.attempts.store.aclose()
            if http is None:  # an injected client belongs to the caller
                await client.aclose()

    app = Starlette(routes=ROUTES, lifespan=lifespan)
    app.state.runtime = runtime
    app.state.reconcile = lambda: reconcile(runtime)
    if sender is not None:
        app.state.deliver_events = lambda: events.deliver(runtime, sender)
    install_redaction()  # no token in any log line, whoever serves the app
    # Request ids, bounded bodies, a 503 when out of descriptors, each step's loop time.
    app.add_middleware(
        Edge,
        metrics=runtime.metrics,
        steps=step_routes(),
        caps={**BODY_CAPS, **suggest_web.BODY_CAPS},
    )
    return app


def from_environment() -> Starlette:
    """The service with the settings of the environment and `.env`: what each `linker serve`
    worker runs (`uvicorn --factory linker.app:from_environment --no-access-log` does the
    same; each step logs its own line, and an access line per request only repeats the
    request's URL). The process is taken to serve this app alone: its collector and logging
    are set for it (`linker.ops.serving`)."""
    app = create_app(Settings.from_env(Settings.environment()))
    serving.settle()
    return app


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _params(request: Request) -> dict[str, str] | None:
    params = dict(request.query_params)
    if any(len(v) > MAX_PARAM_LENGTH for v in params.values()):
        return None
    return params


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def link_start(request: Request) -> Response:
    rt, params = runtime_of(request), _params(request)
    if params is None:
        return too_long()
    outcome = await start(
        rt, params.get("session_token", ""), params.get("state", ""), _client_ip(request)
    )
    return render(rt, outcome)


async def link_callback(request: Request) -> Response:
    rt, params = runtime_of(request), _params(request)
    if params is None:
        return too_long()

    def cookie_ok(state: str) -> bool:
        name = cookie_name(state, secure=rt.settings.secure_cookies)
        return rt.cookies.matches(request.cookies.get(name), state)

    outcome = await callback(rt, params, cookie_ok=cookie_ok, ip=_client_ip(request))
    return render(rt, outcome)


async def link_confirm(request: Request) -> Response:
    """The Link or Cancel form of the page that shows the account (`linker.steps.confirm`)."""
    rt = runtime_of(request)
    body = await request.body()  # bounded by `linker.web.body_limit`
    try:
        form = dict(parse_qsl(body.decode("utf-8", "replace"), max_num_fields=CONFIRM_FIELDS))
    except ValueError:  # more fields than the form has
        form = {}
    if any(len(v) > MAX_PARAM_LENGTH for v in form.values()):
        return too_long()

    def cookie_ok(state: str) -> bool:
        name = cookie_name(state, secure=rt.settings.secure_cookies)
        return rt.cookies.matches(request.cookies.get(name), state)

    outcome = await choose(
        rt, form, cookie_ok=cookie_ok, origin=request.headers.get("origin"), ip=_client_ip(request)
    )
    return render(rt, outcome)


async def link_commit(request: Request) -> Response:
    """JSON in, JSON out: `{"commit_token": T}` answers the final result. The body reaches
    here bounded (`linker.web.body_limit`): a larger one was answered 413 unread."""
    body = await request.body()
    token = None
    if len(body) <= MAX_COMMIT_BODY:
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("commit_token"), str):
            token = payload["commit_token"]
    answer = await commit(runtime_of(request), token or "")
    return JSONResponse(answer.body, status_code=answer.status_code, headers=_NO_STORE)


_NO_STORE = {"cache-control": "no-store"}


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    rt = runtime_of(request)
    store_ok = await rt.attempts.store.ping()
    keys_ok, reason = rt.tenant.keys.loaded, None
    if not keys_ok:
        try:
            await rt.tenant.keys.keys_for(None)
            keys_ok = True
        except LinkError as error:  # e.g. discovery names another issuer
            keys_ok, reason = False, error.description
    ready = store_ok and keys_ok
    body: dict[str, object] = {
        "status": "ready" if ready else "not_ready",
        "store": store_ok,
        "keys": keys_ok,
    }
    if reason is not None:
        body["reason"] = reason
    # This host's clock against the store's, which the replicas share (positive: ahead).
    offset = await rt.store_clock.offset() if store_ok else None
    body["clock_offset_seconds"] = None if offset is None else round(offset, 3)
    warning = skew_problem(offset)
    if warning is not None:
        body["warning"] = warning
    store = rt.attempts.store
    if store_ok and isinstance(store, RedisStore) and (evicting := await store.evicting()):
        # Ready all the same (nothing is lost yet), and said plainly: see `linker check`.
        body["store_unsafe"] = (
            "maxmemory-policy can evict pending attempts and merges: "
            + ", ".join(evicting)
            + "; set noeviction"
        )
    return JSONResponse(body, status_code=200 if ready else 503)


async def metrics(request: Request) -> Response:
    rt = runtime_of(request)
    # The share of the store in use (of `maxmemory` on Redis, as last read): new attempts are
    # refused from `linker.state.store.START_SHARE`.
    rt.metrics.gauge("linker_store_fill", float(getattr(rt.attempts.store, "fill", 0.0)))
    text = rt.metrics.render()
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


ROUTES = [
    Route("/link/start", link_start, methods=["GET"]),
    Route("/link/callback", link_callback, methods=["GET"]),
    Route("/link/confirm", link_confirm, methods=["POST"]),
    Route("/link/commit", link_commit, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    *suggest_web.ROUTES,
]

# The linking steps by route path, labelled as `linker.steps.outcomes.reported` labels them (unlink
# runs through the same three routes).
STEP_PATHS = {
    "/link/start": "start",
    "/link/callback": "callback",
    "/link/confirm": "confirm",
    "/link/commit": "commit",
    **suggest_web.STEP_PATHS,
}


def step_routes() -> dict[tuple[str, str], str]:
    """(method, path) -> step, for each method the steps' routes answer (HEAD with GET)."""
    return {
        (method, route.path): STEP_PATHS[route.path]
        for route in ROUTES
        if route.path in STEP_PATHS
        for method in route.methods or ()
    }
