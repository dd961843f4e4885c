"""CORS on `/oauth/token`, so that a single-page app (auth0-spa-js) can call it from its page.

Auth0 lets a browser on an application's origin read the token endpoint's answers when that
origin is among the client's Allowed Web Origins, Allowed Origins, or the origins of its
callback URLs. The SDK sends an `Auth0-Client` header (its telemetry), which makes every
token request preflighted; the preflight carries no body and so no client_id, and is answered
for any origin some client allows. The answer itself names the origin only when it belongs to
the client that asked: any other page gets a response its script cannot read.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from linker.devtenant.authorize_request import origin_of
from linker.devtenant.seed import Client, Seed
from linker.devtenant.token_endpoint import token
from linker.devtenant.web import tenant_of

ALLOWED_HEADERS = "Auth0-Client, Content-Type, Authorization, DPoP"
PREFLIGHT_MAX_AGE = "86400"


def client_origins(client: Client) -> set[str]:
    return {*client.web_origins, *(origin_of(url) for url in client.callbacks)}


def any_client_allows(seed: Seed, origin: str) -> bool:
    return any(origin in client_origins(client) for client in seed.clients)


async def token_with_cors(request: Request) -> Response:
    """`/oauth/token`, with the CORS answers a browser needs around it."""
    tenant = tenant_of(request)
    origin = request.headers.get("origin")
    if request.method == "OPTIONS":
        if origin is None or not any_client_allows(tenant.seed, origin):
            return Response(status_code=403)
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "POST",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
                "Vary": "Origin",
            },
        )
    response = await token(request)
    if origin is not None:
        client = tenant.seed.client(await _client_id(request))
        if client is not None and origin in client_origins(client):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
    return response


async def _client_id(request: Request) -> str:
    """The client named by the body (the token endpoint already read and cached it)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(body)
        except ValueError:
            return ""
        value = data.get("client_id") if isinstance(data, dict) else None
        return value if isinstance(value, str) else ""
    return dict(parse_qsl(body)).get("client_id", "")
