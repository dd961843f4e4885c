"""Answer `LinkRequired` from an agent API on Starlette: 401 with what to link and where.

    app = Starlette(routes=..., exception_handlers={LinkRequired: link_required_handler,
                                                    StepUpRequired: link_required_handler})

The body is `{"error": "link_required", "connection", "scopes", "via", "why"?, "link_url"?,
"connect_url"?}` (`via`: `link` through linker, or `connect` through the My Account API; `why`:
why that way) and the `WWW-Authenticate` header carries the same facts for clients that read
only headers. `StepUpRequired` answers 401 `{"error": "step_up_required", "ask_for",
"message", "authorize_params"}` with `WWW-Authenticate: Bearer
error="insufficient_user_authentication"` (RFC 9470), plus the multi-factor `acr_values` when a
second factor is what to ask for.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from linker.client.errors import LinkRequired, StepUpRequired


async def link_required_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette exception handler for `LinkRequired` and `StepUpRequired` (any other
    exception is re-raised)."""
    if isinstance(exc, StepUpRequired):
        return step_up_required_response(exc)
    if not isinstance(exc, LinkRequired):
        raise exc
    return link_required_response(exc)


def step_up_required_response(exc: StepUpRequired) -> JSONResponse:
    """The 401 answer for `exc`: the user must sign in again before the agent can go on."""
    params = [("error", "insufficient_user_authentication")]
    if "acr_values" in exc.authorize_params:
        params.append(("acr_values", exc.authorize_params["acr_values"]))
    challenge = "Bearer " + ", ".join(f"{n}={quoted_string(v)}" for n, v in params)
    body = {
        "error": "step_up_required",
        "ask_for": exc.ask_for,
        "message": exc.message,
        "authorize_params": exc.authorize_params,
    }
    return JSONResponse(
        body,
        status_code=401,
        headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
    )


def link_required_response(exc: LinkRequired) -> JSONResponse:
    """The 401 answer for `exc`; usable outside an exception handler too."""
    body: dict[str, Any] = {
        "error": "link_required",
        "connection": exc.connection,
        "scopes": list(exc.scopes),
        "via": exc.via,
    }
    if exc.granted is not None:
        body["granted"] = list(exc.granted)
    if exc.why:
        body["why"] = exc.why
    if exc.via == "link" and exc.link_url is not None:
        body["link_url"] = exc.link_url
    if exc.via == "connect" and exc.url is not None:
        body["connect_url"] = exc.url
    return JSONResponse(
        body,
        status_code=401,
        headers={
            "WWW-Authenticate": www_authenticate(exc),
            # A link URL carries the user's ID token as its hint: keep it out of caches.
            "Cache-Control": "no-store",
        },
    )


def www_authenticate(exc: LinkRequired) -> str:
    """`Bearer error="link_required", connection="...", scope="..."` (RFC 6750 style), with
    `via="connect"` when the user connects through the My Account API instead of linking."""
    params = [("error", "link_required"), ("connection", exc.connection)]
    if exc.scopes:
        params.append(("scope", " ".join(exc.scopes)))
    if exc.via != "link":  # the way this header has always meant goes unsaid
        params.append(("via", exc.via))
    return "Bearer " + ", ".join(f"{name}={quoted_string(value)}" for name, value in params)


def quoted_string(value: str) -> str:
    """An HTTP quoted-string (RFC 9110 5.6.4) of `value`.

    Backslash and quote are escaped; characters a header cannot carry (controls, non-ASCII)
    are percent-encoded so a hostile connection name cannot split or break the header.
    """
    out = []
    for char in value:
        if char in '\\"':
            out.append("\\" + char)
        elif " " <= char <= "~" or char == "\t":
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return '"' + "".join(out) + '"'
