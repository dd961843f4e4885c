"""`/__admin`: how tests steer the tenant. Mounted only with `DevTenantConfig(admin=True)`.

No authentication: the dev tenant listens on loopback and holds only made-up users.

    POST   /__admin/faults         add a fault rule (see faults.py); GET lists, DELETE clears
    GET    /__admin/requests       the request log, filtered by ?method=&path=<regex>
    DELETE /__admin/requests       clear the log
    POST   /__admin/reset          back to the seed the tenant started with: users, sessions,
                                   codes, faults, log (a seed posted to /__admin/seed is dropped)
    POST   /__admin/seed           use this seed (body: seed JSON) until the next reset
    GET    /__admin/users          every user; /__admin/users/{id} one user (404 if none)
    POST   /__admin/users          add a user to the seed in use, until the next reset (body:
                                   {"connection", "email", "email_verified", "user_id", ...})
    POST   /__admin/keys/rotate    new signing key; the old ones stay published
    POST   /__admin/clock          {"advance": seconds}: move the tenant's clock forward
    POST   /__admin/settings       change seed `settings` until the next reset (e.g.
                                   {"token_vault_not_found_error": "federated_connection_..."})
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from linker.devtenant import provider_session
from linker.devtenant.directory import User, user_json
from linker.devtenant.errors import OAuthError
from linker.devtenant.faults import parse_fault
from linker.devtenant.my_account import account_json
from linker.devtenant.seed import Connection, SeedError, load_seed
from linker.devtenant.web import tenant_of


def _bad(message: str) -> OAuthError:
    return OAuthError(400, "invalid_request", message)


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"{}")
    except ValueError:
        return None


async def add_fault(request: Request) -> Response:
    tenant = tenant_of(request)
    try:
        fault = parse_fault(await _json(request))
    except ValueError as exc:
        raise _bad(str(exc)) from None
    tenant.faults.add(fault)
    return JSONResponse({"faults": tenant.faults.describe()}, 201)


async def list_faults(request: Request) -> Response:
    return JSONResponse({"faults": tenant_of(request).faults.describe()})


async def clear_faults(request: Request) -> Response:
    tenant_of(request).faults.clear()
    return JSONResponse({"faults": []})


async def list_requests(request: Request) -> Response:
    method = request.query_params.get("method")
    path = request.query_params.get("path")
    entries = tenant_of(request).requests.select(method, path)
    return JSONResponse({"count": len(entries), "requests": [e.describe() for e in entries]})


async def clear_requests(request: Request) -> Response:
    tenant_of(request).requests.clear()
    return JSONResponse({"count": 0, "requests": []})


async def reset(request: Request) -> Response:
    tenant_of(request).reset()
    return JSONResponse({"reset": True})


async def replace_seed(request: Request) -> Response:
    body = await _json(request)
    if not isinstance(body, dict):
        raise _bad("the seed must be a JSON object")
    try:
        seed = load_seed(body)
    except SeedError as exc:
        raise _bad(str(exc)) from None
    tenant_of(request).reset(seed)
    return JSONResponse({"reset": True, "users": [u.user_id for u in seed.users]})


USER_FIELDS = frozenset(
    {
        "connection",
        "user_id",
        "email",
        "email_verified",
        "name",
        "user_metadata",
        "app_metadata",
        "password",
        "granted_scopes",
    }
)


def _connection_json(connection: Connection) -> dict[str, Any]:
    return {
        "name": connection.name,
        "id": connection.id,
        "strategy": connection.strategy,
        "default_scopes": list(connection.default_scopes),
        "purposes": sorted(connection.purposes),
    }


async def add_user(request: Request) -> Response:
    """A user who signs in at `connection`, for a suite in any language: added to the seed in
    use, which the tenant resets to (so add users before a test's flows); the next
    `/__admin/reset` drops it. `user_id` is the provider's id (default: a random one)."""
    tenant = tenant_of(request)
    body = await _json(request)
    if not isinstance(body, dict):
        raise _bad("the user must be a JSON object")
    unknown = sorted(set(body) - USER_FIELDS)
    if unknown:
        raise _bad(f"user.{unknown[0]}: unknown field (known: {sorted(USER_FIELDS)})")
    name = body.get("connection")
    connection = tenant.seed.connection(name) if isinstance(name, str) else None
    if connection is None:
        raise _bad(f"user.connection: unknown connection {name!r}")
    local = body.get("user_id") or secrets.token_hex(6)
    entry = {
        "user_id": f"{connection.provider}|{local}" if isinstance(local, str) else None,
        "email": body.get("email"),
        "email_verified": body.get("email_verified", False),
        "name": body.get("name"),
        "identities": [
            {"connection": name, "user_id": local, "granted_scopes": body.get("granted_scopes", [])}
        ],
        "user_metadata": body.get("user_metadata", {}),
        "app_metadata": body.get("app_metadata", {}),
    }
    if "password" in body:
        entry["password"] = body["password"]
    mini = {
        "connections": [_connection_json(c) for c in tenant.seed.connections],
        "clients": [],
        "users": [entry],
    }
    try:
        seeded = load_seed(mini).users[0]
    except SeedError as exc:
        where = str(exc).replace("users[0].identities[0].", "user.").replace("users[0]", "user")
        raise _bad(where) from None
    taken = {i.full_id for u in tenant.seed.users for i in u.identities}
    taken |= {i.full_id for u in tenant.directory for i in u.identities}
    if seeded.user_id in taken:
        raise _bad(f"user.user_id: {seeded.user_id!r} exists already")
    tenant.reset(replace(tenant.seed, users=(*tenant.seed.users, seeded)))
    return JSONResponse({"user_id": seeded.user_id}, 201)


def _inspect(user: User) -> dict[str, Any]:
    data = user_json(user)
    for entry, identity in zip(data["identities"], user.identities, strict=True):
        entry["granted_scopes"] = sorted(identity.granted_scopes)
    data["enrolled_factors"] = list(user.enrolled_factors)
    data["connected_accounts"] = [account_json(a) for a in user.connected_accounts]
    return data


async def list_users(request: Request) -> Response:
    return JSONResponse({"users": [_inspect(u) for u in tenant_of(request).directory]})


async def get_user(request: Request) -> Response:
    user = tenant_of(request).directory.get(request.path_params["user_id"])
    if user is None:
        raise OAuthError(404, "not_found", "No such user")
    return JSONResponse(_inspect(user))


async def rotate_keys(request: Request) -> Response:
    keys = tenant_of(request).keys
    kid = keys.rotate()
    return JSONResponse({"kid": kid, "kids": keys.kids})


async def clock(request: Request) -> Response:
    tenant = tenant_of(request)
    body = await _json(request)
    advance = body.get("advance") if isinstance(body, dict) else None
    if not isinstance(advance, int | float) or isinstance(advance, bool):
        raise _bad("advance must be a number of seconds")
    tenant.clock_offset += advance
    return JSONResponse({"now": tenant.now(), "offset": tenant.clock_offset})


async def settings(request: Request) -> Response:
    """Change the seed's `settings` (validated as the seed's are) until the next reset."""
    tenant = tenant_of(request)
    body = await _json(request)
    if not isinstance(body, dict) or not set(body) <= set(asdict(tenant.settings)):
        raise _bad(f"settings are an object with keys among {sorted(asdict(tenant.settings))}")
    merged = {**asdict(tenant.settings), **body}
    try:
        checked = load_seed({"connections": [], "clients": [], "users": [], "settings": merged})
    except SeedError as exc:
        raise _bad(str(exc)) from None
    tenant.settings = checked.settings
    return JSONResponse(asdict(tenant.settings))


routes = [
    Route("/__admin/faults", add_fault, methods=["POST"]),
    Route("/__admin/faults", list_faults, methods=["GET"]),
    Route("/__admin/faults", clear_faults, methods=["DELETE"]),
    Route("/__admin/requests", list_requests, methods=["GET"]),
    Route("/__admin/requests", clear_requests, methods=["DELETE"]),
    Route("/__admin/reset", reset, methods=["POST"]),
    Route("/__admin/seed", replace_seed, methods=["POST"]),
    Route("/__admin/users", list_users, methods=["GET"]),
    Route("/__admin/users", add_user, methods=["POST"]),
    Route("/__admin/users/{user_id:path}", get_user, methods=["GET"]),
    Route("/__admin/keys/rotate", rotate_keys, methods=["POST"]),
    Route("/__admin/clock", clock, methods=["POST"]),
    Route("/__admin/settings", settings, methods=["POST"]),
    Route("/__admin/provider-session", provider_session.sign_in_at_provider, methods=["GET"]),
]
