"""Outcomes of the browser steps, rendered as HTTP responses (and the cookies they carry)."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from linker.cookies import COOKIE_PATH, cookie_name
from linker.core.errors import Code, LinkError
from linker.outcomes import DeadEnd, NestedLogin, Outcome
from linker.pages import SECURITY_HEADERS, error_page, resume_page
from linker.runtime import Runtime


def render(rt: Runtime, outcome: Outcome) -> Response:
    settings = rt.settings
    if isinstance(outcome, DeadEnd):
        return error_page(
            outcome.error.code.value, outcome.error.description, status=outcome.status
        )
    if isinstance(outcome, NestedLogin):
        response: Response = RedirectResponse(
            outcome.url, status_code=302, headers=SECURITY_HEADERS
        )
        response.set_cookie(
            cookie_name(outcome.txn_id),
            rt.cookies.value(outcome.txn_id),
            max_age=settings.txn_ttl,
            path=COOKIE_PATH,
            secure=settings.secure_cookies,
            httponly=True,
            samesite="lax",
        )
        return response
    response = resume_page(
        outcome.continue_url, state=outcome.state, session_token=outcome.session_token
    )
    if outcome.txn_id:
        # The transaction is spent: a replayed callback from this browser is a dead end too.
        response.delete_cookie(
            cookie_name(outcome.txn_id),
            path=COOKIE_PATH,
            secure=settings.secure_cookies,
            httponly=True,
            samesite="lax",
        )
    return response


def too_long() -> Response:
    error = LinkError(Code.INVALID_REQUEST, "A request parameter is too long.")
    return error_page(error.code.value, error.description)
