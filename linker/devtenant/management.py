"""The Management API subset linker uses: `/api/v2/users/{id}` and its identities.

Bearer tokens come from the client-credentials grant; a missing or bad token is 401, a token
without `read:users` (GET) or `update:users` (PATCH, POST, DELETE) is 403. Ids are taken from
the raw path and percent-decoded one segment at a time, so `github%7C1001` and ids that
contain an encoded "/" reach the directory intact.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from linker.devtenant.directory import ManagementError, identities_json, user_json
from linker.devtenant.state import TenantState
from linker.devtenant.tokens import TokenCheckError, check_access_token, scopes_of
from linker.devtenant.web import tenant_of

PREFIX = "/api/v2/"
READ, UPDATE = "read:users", "update:users"


def _error(status: int, error: str, message: str, code: str, **headers: str) -> JSONResponse:
    body = {"statusCode": status, "error": error, "message": message, "errorCode": code}
    return JSONResponse(body, status_code=status, headers=headers)


def _segments(request: Request) -> list[str]:
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    return [unquote(s) for s in path[len(PREFIX) :].split("/")]


def _authorize(tenant: TenantState, request: Request, needed: str) -> JSONResponse | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _error(401, "Unauthorized", "Missing authentication", "missing_authentication")
    try:
        claims = check_access_token(
            tenant.keys.verify(token.strip()),
            issuer=tenant.issuer,
            audience=tenant.management_audience,
            now=tenant.now(),
        )
    except TokenCheckError as exc:
        return _error(401, "Unauthorized", str(exc), "invalid_token")
    except ValueError:
        return _error(401, "Unauthorized", "Invalid token", "invalid_token")
    if needed not in scopes_of(claims):
        return _error(
            403, "Forbidden", f"Insufficient scope, expected any of: {needed}", "insufficient_scope"
        )
    return None


Endpoint = Callable[[Request], Awaitable[Response]]


def rate_limited(endpoint: Endpoint) -> Endpoint:
    """Every Management API answer carries the rate-limit headers, not only a 429:
    https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy/management-api-endpoint-rate-limits
    """

    async def answer(request: Request) -> Response:
        tenant = tenant_of(request)
        headers, over = tenant.rate_limit()
        if over:
            wait = max(1, int(headers["x-ratelimit-reset"]) - int(tenant.now()))
            response: Response = _error(
                429, "Too Many Requests", "Global limit has been reached", "too_many_requests"
            )
            response.headers["retry-after"] = str(wait)
        else:
            response = await endpoint(request)
        response.headers.update(headers)
        return response

    return answer


async def _users_endpoint(request: Request) -> Response:
    return await _users(request, tenant_of(request))


users = rate_limited(_users_endpoint)


async def _users(request: Request, tenant: TenantState) -> Response:
    segments = _segments(request)
    method = request.method
    route = (method, len(segments))
    if segments[0] != "users" or route not in {
        ("GET", 2),
        ("PATCH", 2),
        ("POST", 3),
        ("DELETE", 5),
    }:
        return _error(404, "Not Found", "Not Found", "not_found")
    if len(segments) > 2 and segments[2] != "identities":
        return _error(404, "Not Found", "Not Found", "not_found")
    denied = _authorize(tenant, request, READ if method == "GET" else UPDATE)
    if denied is not None:
        return denied
    user_id = segments[1]
    directory = tenant.directory
    try:
        if method == "GET":
            return JSONResponse(user_json(directory.require(user_id)))
        if method == "DELETE":
            remaining = directory.unlink(user_id, segments[3], segments[4])
            return JSONResponse(identities_json(remaining))
        body = await _json_body(request)
        if method == "PATCH":
            return JSONResponse(user_json(directory.patch(user_id, body)))
        return JSONResponse(identities_json(directory.link(user_id, body)), status_code=201)
    except ManagementError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise ManagementError(400, "Invalid request payload JSON format", "invalid_body") from None
