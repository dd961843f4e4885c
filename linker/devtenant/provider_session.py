"""A provider that is already signed in, in one browser: the nested login that needs nobody.

At a social connection Auth0 sends the browser on to the provider (GitHub, Google), and a
provider that still has a session there sends it straight back, signed in: `prompt=login`
and `max_age=0` reach the tenant, not the provider. So a browser signed in to an attacker's
GitHub account completes a nested login as that account without the user seeing anything;
linker's page that shows the account is what stops it.

The dev tenant models such a session with one cookie per connection,
`provider_session_<connection>`, naming the identity signed in there. The admin route
`GET /__admin/provider-session?connection=...&user_id=...` sets it in the browser that visits
it (as signing in at the provider would); a login at that connection then completes as that
identity without the account chooser.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from linker.devtenant.errors import ErrorPage
from linker.devtenant.seed import Connection
from linker.devtenant.web import tenant_of

COOKIE_PREFIX = "provider_session_"


def cookie_name(connection: str) -> str:
    return COOKIE_PREFIX + connection


def signed_in(request: Request, connection: Connection) -> str | None:
    """The identity the provider of `connection` has a session for in this browser, if any."""
    if not connection.is_social:
        return None
    return request.cookies.get(cookie_name(connection.name)) or None


async def sign_in_at_provider(request: Request) -> Response:
    tenant = tenant_of(request)
    name = request.query_params.get("connection", "")
    identity_id = request.query_params.get("user_id", "")
    connection = tenant.seed.connection(name)
    if connection is None or not connection.is_social:
        raise ErrorPage(400, "Unknown connection", "Name a social connection of the seed.")
    found = tenant.directory.owner_of(identity_id)
    if found is None or found[1].connection != name:
        raise ErrorPage(400, "Unknown account", f"No identity {identity_id} at {name}.")
    response = PlainTextResponse(f"signed in at {name} as {identity_id}\n")
    response.set_cookie(cookie_name(name), identity_id, httponly=True, samesite="lax", path="/")
    return response
