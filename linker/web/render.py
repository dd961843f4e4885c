"""Outcomes of the browser steps, rendered as HTTP responses (and the cookies they carry)."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from linker.core.errors import Code, LinkError
from linker.runtime import Runtime
from linker.steps.confirm import Confirm
from linker.steps.outcomes import DeadEnd, NestedLogin, Outcome
from linker.web.cookies import cookie_name, set_cookie
from linker.web.pages import SECURITY_HEADERS, confirm_page, error_page, resume_page


def render(rt: Runtime, outcome: Outcome | Confirm) -> Response:
    settings = rt.settings
    if isinstance(outcome, Confirm):
        return confirm_page(
            outcome.account,
            action=f"{settings.public_url}/link/confirm",
            state=outcome.state,
            token=outcome.token,
        )
    if isinstance(outcome, DeadEnd):
        return error_page(
            outcome.error.code.value, outcome.error.description, status=outcome.status
        )
    if isinstance(outcome, NestedLogin):
        response: Response = RedirectResponse(
            outcome.url, status_code=302, headers=SECURITY_HEADERS
        )
        ttl, secure = settings.txn_ttl, settings.secure_cookies
        name, value = cookie_name(outcome.txn_id, secure=secure), rt.cookies.value(outcome.txn_id)
        response.headers.append("set-cookie", set_cookie(name, value, max_age=ttl, secure=secure))
        return response
    response = resume_page(
        outcome.continue_url, state=outcome.state, session_token=outcome.session_token
    )
    if outcome.txn_id:
        # The transaction is spent: a replayed callback from this browser is a dead end too.
        secure = settings.secure_cookies
        gone = set_cookie(cookie_name(outcome.txn_id, secure=secure), "", max_age=0, secure=secure)
        response.headers.append("set-cookie", gone)
    return response


def too_long() -> Response:
    error = LinkError(Code.INVALID_REQUEST, "A request parameter is too long.")
    return error_page(error.code.value, error.description)
