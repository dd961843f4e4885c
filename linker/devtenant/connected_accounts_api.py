"""`GET /api/v2/users/{id}/connected-accounts`: a user's connected accounts, for a server.

The Management API's listing ("Manage Connected Accounts" in
https://auth0.com/docs/secure/call-apis-on-users-behalf/token-vault/connected-accounts-for-token-vault):
`{"connected_accounts": [{id, connection, connection_id, strategy, access_type, scopes,
created_at}]}`, with scope `read:users`. Auth0's SDKs page it with `from` (a checkpoint) and
`take`; here the checkpoint is an opaque position and the answer names the next one in `next`
while there are more. An agent API reads it to know, before it calls Token Vault, whether the
user still has to connect an account.
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from linker.devtenant.errors import ManagementError
from linker.devtenant.management import READ, rate_limited, require_scope
from linker.devtenant.my_account import account_json
from linker.devtenant.web import tenant_of

PATH = "/api/v2/users/{user_id}/connected-accounts"
DEFAULT_TAKE, MAX_TAKE = 10, 20  # as Auth0 documents `take` for this endpoint


def _user_id(request: Request) -> str:
    """The id from the raw path, so that an encoded "/" in it survives."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    segments = raw.decode("latin-1").split("?", 1)[0].split("/")
    return unquote(segments[4])  # "", "api", "v2", "users", ID, "connected-accounts"


def _bounded_int(value: str | None, default: int, low: int, high: int, name: str) -> int:
    if value is None:
        return default
    if not value.isdigit() or len(value) > 6 or not low <= int(value) <= high:
        raise ManagementError(
            400,
            f"Query validation error: '{name}' must be {low} to {high}.",
            "invalid_query_string",
        )
    return int(value)


async def _list(request: Request) -> Response:
    tenant = tenant_of(request)
    require_scope(tenant, request, READ)
    user = tenant.directory.get(_user_id(request))
    if user is None:
        raise ManagementError(404, "The user does not exist.", "inexistent_user")
    query = request.query_params
    take = _bounded_int(query.get("take"), DEFAULT_TAKE, 1, MAX_TAKE, "take")
    start = _bounded_int(query.get("from"), 0, 0, 10**6, "from")
    accounts = user.connected_accounts[start : start + take]
    listed = []
    for account in accounts:
        connection = tenant.seed.connection(account.connection)
        assert connection is not None  # the seed and the connect flow name real connections
        listed.append(
            {
                **account_json(account),
                "connection_id": connection.id,
                "strategy": connection.strategy,
            }
        )
    body: dict[str, object] = {"connected_accounts": listed}
    if start + take < len(user.connected_accounts):
        body["next"] = str(start + take)
    return JSONResponse(body)


list_connected_accounts = rate_limited(_list)
