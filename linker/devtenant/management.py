"""The Management API subset linker uses: `/api/v2/users/{id}` and its identities, and
`/api/v2/users-by-email` (suggested linking).

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

from linker.devtenant.directory import identities_json, user_json
from linker.devtenant.errors import ManagementError
from linker.devtenant.state import TenantState
from linker.devtenant.token_claims import TokenCheckError, check_access_token, scopes_of
from linker.devtenant.web import tenant_of

PREFIX = "/api/v2/"
READ, UPDATE = "read:users", "update:users"


def _segments(request: Request) -> list[str]:
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    return [unquote(s) for s in path[len(PREFIX) :].split("/")]


def require_scope(tenant: TenantState, request: Request, needed: str) -> None:
    """The request's bearer token is a Management API token with `needed`; else 401 or 403."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ManagementError(401, "Missing authentication", "missing_authentication")
    try:
        claims = check_access_token(
            tenant.keys.verify(token.strip()),
            issuer=tenant.issuer,
            audience=tenant.management_audience,
            now=tenant.now(),
        )
    except TokenCheckError as exc:
        raise ManagementError(401, str(exc), "invalid_token") from None
    except ValueError:
        raise ManagementError(401, "Invalid token", "invalid_token") from None
    if needed not in scopes_of(claims):
        raise ManagementError(
            403, f"Insufficient scope, expected any of: {needed}", "insufficient_scope"
        )


Endpoint = Callable[[Request], Awaitable[Response]]


def rate_limited(endpoint: Endpoint) -> Endpoint:
    """Every Management API answer carries the rate-limit headers, not only a 429:
    https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy/management-api-endpoint-rate-limits
    A `ManagementError` the endpoint raises is answered here.
    """

    async def answer(request: Request) -> Response:
        tenant = tenant_of(request)
        headers, over = tenant.rate_limit()
        if over:
            wait = max(1, int(headers["x-ratelimit-reset"]) - int(tenant.now()))
            limited = ManagementError(429, "Global limit has been reached", "too_many_requests")
            response = limited.response()
            response.headers["retry-after"] = str(wait)
        else:
            try:
                response = await endpoint(request)
            except ManagementError as exc:
                response = exc.response()
        response.headers.update(headers)
        return response

    return answer


async def _users_endpoint(request: Request) -> Response:
    return await _users(request, tenant_of(request))


users = rate_limited(_users_endpoint)


async def _users(request: Request, tenant: TenantState) -> Response:
    segments = _segments(request)
    method = request.method
    if segments == ["users-by-email"] and method == "GET":
        require_scope(tenant, request, READ)
        email = request.query_params.get("email")
        if not email:
            raise ManagementError(
                400, "Query validation error: 'Missing required property: email'.", "invalid_query"
            )
        return JSONResponse([user_json(u) for u in tenant.directory.by_email(email)])
    route = (method, len(segments))
    if segments[0] != "users" or route not in {
        ("GET", 2),
        ("PATCH", 2),
        ("POST", 3),
        ("DELETE", 5),
    }:
        raise ManagementError(404, "Not Found", "not_found")
    if len(segments) > 2 and segments[2] != "identities":
        raise ManagementError(404, "Not Found", "not_found")
    require_scope(tenant, request, READ if method == "GET" else UPDATE)
    user_id = segments[1]
    directory = tenant.directory
    if method == "GET":
        return JSONResponse(user_json(directory.require(user_id)))
    if method == "DELETE":
        remaining = directory.unlink(user_id, segments[3], segments[4])
        return JSONResponse(identities_json(remaining))
    body = await _json_body(request)
    if method == "PATCH":
        return JSONResponse(user_json(directory.patch(user_id, body)))
    return JSONResponse(identities_json(directory.link(user_id, body)), status_code=201)


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise ManagementError(400, "Invalid request payload JSON format", "invalid_body") from None
