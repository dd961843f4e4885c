"""Small HTTP helpers shared by the tenant's routes: the state, forms, JSON answers."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from linker.devtenant.action_runner import ActionRunner
from linker.devtenant.state import TenantState

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def tenant_of(request: Request) -> TenantState:
    state: TenantState = request.app.state.tenant
    return state


def actions_of(request: Request) -> ActionRunner:
    runner: ActionRunner = request.app.state.actions
    return runner


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded body as a dict (the last value of a repeated field wins)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "127.0.0.1"


def json_response(body: Any) -> JSONResponse:
    return JSONResponse(body, headers=NO_STORE)
