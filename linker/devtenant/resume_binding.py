"""Binds a login suspended by an Action redirect to the browser that holds it.

Auth0 resumes `/continue` only in the browser holding that login's transaction: the `state`
alone is not enough, and from another browser `/continue` fails with an invalid-state error
without running `onContinuePostLogin`. The dev tenant does the same with one cookie per
suspended login, named after a digest of its state (so two logins in two tabs coexist).

Like Auth0's own cookies, it is set twice: `SameSite=None; Secure` for browsers that send
such cookies on the cross-site POST back to `/continue` (Chromium does on loopback), and a
`_compat` copy without `SameSite` for clients that ignore `Secure` over plain HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

COOKIE_PREFIX = "auth0_resume_"


def cookie_name(state: str) -> str:
    return COOKIE_PREFIX + hashlib.sha256(state.encode()).hexdigest()[:16]


def new_binding() -> str:
    return secrets.token_urlsafe(24)


def bind(response: Response, state: str, binding: str, *, max_age: int) -> None:
    name = cookie_name(state)
    response.set_cookie(
        name, binding, max_age=max_age, path="/", httponly=True, secure=True, samesite="none"
    )
    compat = f"{name}_compat={binding}; Max-Age={max_age}; Path=/; HttpOnly"
    response.headers.append("set-cookie", compat)


def holds(request: Request, state: str, binding: str) -> bool:
    """True when this browser carries the cookie of the login suspended under `state`."""
    name = cookie_name(state)
    for value in (request.cookies.get(name), request.cookies.get(name + "_compat")):
        if value and hmac.compare_digest(value.encode(), binding.encode()):
            return True
    return False


def release(response: Response, state: str) -> None:
    name = cookie_name(state)
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="none")
    response.delete_cookie(name + "_compat", path="/", httponly=True)
