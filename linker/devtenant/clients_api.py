"""The Management API's read-only client endpoints: `/api/v2/clients/{id}` and
`/api/v2/client-grants`.

`linker check` reads them to tell an operator that the companion application lacks a scope or
a callback URL before a user finds out. As at Auth0 they need their own scopes
(`read:clients`, `read:client_grants`). The bundled seed gives the `linker` client
`read:clients`, so `linker check` against it verifies the callback URL as it would at a
tenant set up that way; without `read:client_grants` it reads the grant's scopes from its own
token instead.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from linker.devtenant.errors import ManagementError
from linker.devtenant.management import require_scope
from linker.devtenant.web import tenant_of

READ_CLIENTS, READ_GRANTS = "read:clients", "read:client_grants"


async def client(request: Request) -> Response:
    tenant = tenant_of(request)
    require_scope(tenant, request, READ_CLIENTS)
    found = tenant.seed.client(request.path_params["client_id"])
    if found is None:
        raise ManagementError(404, "The client does not exist", "inexistent_client")
    return JSONResponse(
        {
            "client_id": found.client_id,
            "name": found.name,
            "app_type": found.app_type,
            "callbacks": list(found.callbacks),
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        }
    )


async def client_grants(request: Request) -> Response:
    tenant = tenant_of(request)
    require_scope(tenant, request, READ_GRANTS)
    wanted_client = request.query_params.get("client_id")
    wanted_audience = request.query_params.get("audience")
    grants = [
        {
            "id": f"cgr_{item.client_id}",
            "client_id": item.client_id,
            "audience": tenant.management_audience,
            "scope": list(item.management_scopes),
        }
        for item in tenant.seed.clients
        if item.management_scopes
        and wanted_client in (None, item.client_id)
        and wanted_audience in (None, tenant.management_audience)
    ]
    return JSONResponse(grants)
