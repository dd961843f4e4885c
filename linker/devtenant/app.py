"""The dev tenant's app factory: a local stand-in for an Auth0 tenant.

    app = create_dev_tenant(DevTenantConfig(base_url="http://127.0.0.1:8700", seed=..., ...))

Routes: `/.well-known/openid-configuration`, `/.well-known/jwks.json`, `/authorize`, `/login`,
`/continue`, `/oauth/token`, `/userinfo`, `/v2/logout`, `/api/v2/users/...`, and with
`admin=True` the `/__admin` surface. The post-login Action (the shim `linker action` prints)
runs in one Node worker that starts on first use and stops with the app's lifespan.
Everything mutable is `app.state.tenant` (a `TenantState`); its `clock` can be replaced.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from linker import shim_path
from linker.devtenant import (
    admin,
    clients_api,
    connected_accounts_api,
    cors,
    login,
    management,
    my_account,
    oidc,
)
from linker.devtenant.action_runner import ActionRunner
from linker.devtenant.errors import DevTenantError
from linker.devtenant.faults import FaultMiddleware
from linker.devtenant.seed import Seed
from linker.devtenant.state import TenantState
from linker.devtenant.web_message import WebMessageMiddleware

# The shim shipped in linker-auth0's wheel, or deploy/action/linker-action.js in a checkout.
DEFAULT_ACTION = shim_path()


@dataclass(frozen=True)
class DevTenantConfig:
    base_url: str  # e.g. "http://127.0.0.1:8700"; issuer is base_url + "/"
    seed: Seed
    action_secrets: Mapping[str, str] = field(repr=False)  # the Action's event.secrets
    action_path: Path | None = None  # default: the shim `linker action --path` names
    admin: bool = False  # mount /__admin
    clock: Callable[[], float] = time.time  # the tenant's time, for expiry tests


def resolve_action_path(path: Path | None) -> Path:
    action = path if path is not None else DEFAULT_ACTION
    if not action.is_file():
        raise FileNotFoundError(
            f"the post-login Action was not found at {action}: pass action_path= "
            "(`linker action --write PATH` writes the shim)"
        )
    return action


async def render_error(request: Request, exc: Exception) -> Response:
    """A `DevTenantError` a route did not answer itself, in the shape its flavour gives it."""
    assert isinstance(exc, DevTenantError)
    return exc.response()


def create_dev_tenant(config: DevTenantConfig) -> Starlette:
    runner = ActionRunner(resolve_action_path(config.action_path))
    tenant = TenantState(
        base_url=config.base_url,
        seed=config.seed,
        action_secrets=dict(config.action_secrets),
        clock=config.clock,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await runner.aclose()

    routes: list[BaseRoute] = [
        Route("/.well-known/openid-configuration", oidc.openid_configuration, methods=["GET"]),
        Route("/.well-known/jwks.json", oidc.jwks, methods=["GET"]),
        Route("/authorize", login.authorize, methods=["GET"]),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login_submit, methods=["POST"]),
        Route("/continue", login.continue_login, methods=["GET", "POST"]),
        Route("/v2/logout", login.logout, methods=["GET"]),
        Route("/oauth/token", cors.token_with_cors, methods=["POST", "OPTIONS"]),
        Route("/userinfo", oidc.userinfo, methods=["GET", "POST"]),
        Route(
            "/api/v2/clients/{client_id}",
            management.rate_limited(clients_api.client),
            methods=["GET"],
        ),
        Route(
            "/api/v2/client-grants",
            management.rate_limited(clients_api.client_grants),
            methods=["GET"],
        ),
        Route(
            connected_accounts_api.PATH,
            connected_accounts_api.list_connected_accounts,
            methods=["GET"],
        ),
        Route(
            "/api/v2/{rest:path}",
            management.users,
            methods=["GET", "PATCH", "POST", "DELETE"],
        ),
        *my_account.routes,
    ]
    if config.admin:
        routes += admin.routes
    middleware = [
        Middleware(FaultMiddleware, faults=tenant.faults, log=tenant.requests, now=tenant.now),
        Middleware(WebMessageMiddleware),
    ]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={DevTenantError: render_error},
    )
    app.state.tenant = tenant
    app.state.actions = runner
    return app
