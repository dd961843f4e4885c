"""The HTTP side of suggested linking: `/link/suggest`, its page, and the two choices.

The page names only the connections of the accounts on offer: never an email, a name or a
user id. Its forms POST back here, same site, so the offer's SameSite=Lax cookie goes with
them and a cross-site form's POST arrives without it. Bodies are read with a cap before
anything is parsed.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from linker.core.errors import Code, LinkError
from linker.core.suggest import Offer
from linker.runtime import Runtime
from linker.steps.outcomes import DeadEnd, Outcome
from linker.steps.suggest import Offered, SuggestOutcome, choose, decline, suggest
from linker.web.cookies import cookie_name, set_cookie
from linker.web.pages import SECURITY_HEADERS, _page, error_page
from linker.web.render import render, too_long

MAX_PARAM_LENGTH = 16_384
MAX_FORM_BODY = 4_096

# How the page names the usual connections; any other is shown by its own name.
CONNECTION_NAMES = {
    "google-oauth2": "Google",
    "github": "GitHub",
    "windowslive": "Microsoft",
    "apple": "Apple",
    "facebook": "Facebook",
    "Username-Password-Authentication": "your email and password",
}


def connection_label(connection: str) -> str:
    return CONNECTION_NAMES.get(connection, connection)


def offer_page(offer: Offer, public_url: str) -> HTMLResponse:
    """The offer: one form per candidate, and "Not now" or "Sign out"."""
    choose_url = escape(public_url + "/link/suggest/choose")
    decline_url = escape(public_url + "/link/suggest/decline")
    offer_field = f'<input type="hidden" name="offer" value="{escape(offer.id)}">'
    buttons = "".join(
        f'<form method="post" action="{choose_url}">{offer_field}'
        f'<input type="hidden" name="candidate" value="{n}">'
        f'<button type="submit">Sign in with {escape(connection_label(c.connection))} to link'
        "</button></form>"
        for n, c in enumerate(offer.candidates)
    )
    refuse = "Not now" if offer.mode == "suggest" else "Sign out"
    body = (
        "<h1>You already have an account</h1>"
        "<p>An account with the same verified email address already exists. Sign in to it to "
        "link it with the one you just used, so that both sign you in to the same profile.</p>"
        f"{buttons}"
        f'<form method="post" action="{decline_url}">{offer_field}'
        f'<button type="submit" name="refuse" value="1">{refuse}</button></form>'
    )
    headers = {
        **SECURITY_HEADERS,
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    return HTMLResponse(_page("Link your accounts", body), headers=headers)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _render(rt: Runtime, outcome: SuggestOutcome) -> Response:
    if not isinstance(outcome, Offered):
        return render(rt, outcome)
    offer = outcome.offer
    response = offer_page(offer, rt.settings.public_url)
    secure = rt.settings.secure_cookies
    name, value = cookie_name(offer.id, secure=secure), rt.cookies.value(offer.id)
    cookie = set_cookie(name, value, max_age=rt.settings.txn_ttl, secure=secure)
    response.headers.append("set-cookie", cookie)
    return response


async def link_suggest(request: Request) -> Response:
    rt = _runtime(request)
    params = dict(request.query_params)
    if any(len(v) > MAX_PARAM_LENGTH for v in params.values()):
        return too_long()
    outcome = await suggest(
        rt, params.get("session_token", ""), params.get("state", ""), _client_ip(request)
    )
    return _render(rt, outcome)


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded body, or None when it is larger than any form of ours."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BODY:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BODY:
            return None
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return {}
    return dict(parse_qsl(text, max_num_fields=8))


async def _choice(request: Request, step: str) -> Response:
    rt = _runtime(request)
    try:
        form = await _form(request)
    except ValueError:  # more fields than any form of ours
        form = None
    if form is None:
        error = LinkError(Code.INVALID_REQUEST, "The form is larger than any this page sends.")
        return error_page(error.code.value, error.description, status=413)

    def cookie_ok(offer_id: str) -> bool:
        name = cookie_name(offer_id, secure=rt.settings.secure_cookies)
        return rt.cookies.matches(request.cookies.get(name), offer_id)

    run = choose if step == "choose" else decline
    outcome: Outcome = await run(rt, form, cookie_ok=cookie_ok, ip=_client_ip(request))
    response = render(rt, outcome)
    offer_id = form.get("offer", "")
    if offer_id and not (isinstance(outcome, DeadEnd) and outcome.status == 503):
        # The offer is spent (or was never this browser's): its cookie goes too.
        secure = rt.settings.secure_cookies
        gone = set_cookie(cookie_name(offer_id, secure=secure), "", max_age=0, secure=secure)
        response.headers.append("set-cookie", gone)
    return response


async def link_suggest_choose(request: Request) -> Response:
    return await _choice(request, "choose")


async def link_suggest_decline(request: Request) -> Response:
    return await _choice(request, "decline")


ROUTES = [
    Route("/link/suggest", link_suggest, methods=["GET"]),
    Route("/link/suggest/choose", link_suggest_choose, methods=["POST"]),
    Route("/link/suggest/decline", link_suggest_decline, methods=["POST"]),
]
# The two choices are small forms; the offer's page (GET) takes no body.
BODY_CAPS = {"/link/suggest/choose": MAX_FORM_BODY, "/link/suggest/decline": MAX_FORM_BODY}
STEP_PATHS = {
    "/link/suggest": "suggest",
    "/link/suggest/choose": "suggest_choose",
    "/link/suggest/decline": "suggest_decline",
}
