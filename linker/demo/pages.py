"""The sample app's HTML: a landing page, the profile page, and an error page.

Plain HTML with a little CSS and no JavaScript. Everything shown passes through `escape`,
including values the tenant or the URL supplied. Buttons that change something are POST forms
carrying the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from linker.core.identities import Identity
from linker.demo.sessions import AgentOutcome, Notice, Session

LINK_BUTTONS = (
    ("github", "Link GitHub"),
    ("google-oauth2", "Link Google"),
    ("windowslive", "Link Microsoft"),
)

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;"
    "color:#1d2433}h1{font-size:1.6rem}h2{font-size:1.15rem;margin-top:2rem}"
    "table{border-collapse:collapse;width:100%}"
    "td,th{text-align:left;padding:.4rem;border-bottom:1px solid #dde2ea}"
    "code{background:#eef1f6;padding:.1rem .3rem;border-radius:3px}form{display:inline}"
    "button,.button{font-size:.95rem;padding:.45rem .9rem;margin:.2rem .3rem .2rem 0;"
    "border:1px solid #3358d4;border-radius:4px;background:#3358d4;color:#fff;cursor:pointer;"
    "text-decoration:none;display:inline-block}button.quiet{background:#fff;color:#3358d4}"
    ".note{padding:.7rem 1rem;border-radius:4px;background:#eef4ff;border-left:4px solid #3358d4}"
    ".note p{margin:.3rem 0}.note .title{font-weight:600}"
    ".ok{background:#eefaf1;border-left:5px solid #1f8a4c}"
    ".bad{background:#fff1f0;border-left:5px solid #c93a2f}.bad .title{color:#9d2118}"
    ".code{font-size:.85rem;color:#5b6577}.muted{color:#5b6577}"
)

# No scripts and no frames; styles only from the page itself, and the app's own icon.
HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def landing_page(notice: Notice | None, *, spa_url: str | None = None) -> HTMLResponse:
    """Not signed in: what the demo is, a Sign in button, and where the SPA sample is."""
    spa = (
        f'<p class="muted">The same story from a single-page app on auth0-spa-js: '
        f'<a href="{escape(spa_url)}">{escape(spa_url)}</a></p>'
        if spa_url
        else ""
    )
    body = (
        "<h1>linker demo app</h1>"
        f"{_notice(notice)}"
        "<p>A small web app (a Regular Web App: it keeps your tokens on its server) that links "
        "accounts through <code>linker</code>. Sign in (as <b>alice</b> with Google, say), then "
        "link her GitHub account from your profile.</p>"
        '<p><a class="button" href="/login">Sign in</a></p>'
        f"{spa}"
    )
    return _html("linker demo app", body)


def profile_page(
    session: Session,
    identities: Sequence[Identity] | None,
    identities_error: str | None,
    notice: Notice | None = None,
    agent: AgentOutcome | None = None,
    rows: str = "",
) -> HTMLResponse:
    """Signed in: who you are, your identities with Link/Unlink, the agent, Sign out; with
    the last action's `notice` and the agent's outcome (and `rows`, the app's data section)."""
    claims = session.claims
    name = str(claims.get("name") or claims.get("nickname") or session.user_id)
    body = (
        f"<h1>Hello, {escape(name)}</h1>"
        f"{_notice(notice)}"
        f"<p>Email: {escape(str(claims.get('email', '—')))}"
        f" <span class=muted>(user id <code>{escape(session.user_id)}</code>)</span></p>"
        "<h2>Your identities</h2>"
        '<p class="muted">Read by this app\'s server through the Management API. '
        "<b>Unlink</b> asks you to sign in again as yourself: removing an account needs "
        "proof that it is you.</p>"
        f"{_identities(session, identities, identities_error)}"
        "<h2>Link another account</h2>"
        '<p class="muted">Each button sends you to the tenant with <code>scope</code> including '
        "<code>link_account</code>, <code>requested_connection</code> and your ID token as "
        "<code>id_token_hint</code>. The tenant's Action hands you to linker, which asks you to "
        "sign in to the account you want to add, checks it, and sends you back.</p><p>"
        + "".join(
            _post_form("/link", session, label, {"connection": connection})
            for connection, label in LINK_BUTTONS
        )
        + "</p>"
        '<p class="muted">Linking is two-phase (protocol v2): linker verifies the request and the '
        "account and prepares the link; the link is written only when your login resumes at "
        "the tenant's <code>/continue</code> in the browser that started it, so a link URL that "
        "leaks or is replayed elsewhere writes nothing.</p>"
        "<h2>Connected accounts</h2>"
        '<p class="muted">For a connection with Connected Accounts for Token Vault (Slack here), '
        "Token Vault reads only the accounts you connect through the tenant's My Account API: a "
        "link does not fill it. This app gets a My Account API token from your refresh token "
        "(Multi-Resource Refresh Token) and sends you to the tenant to allow it.</p>"
        f"<p>{_post_form('/connect-account', session, 'Connect Slack', {'connection': 'slack'})}"
        f"</p>{_step_up(session)}"
        "<h2>Agent</h2>"
        "<p>An agent in this app asks Token Vault for a Google Calendar token on your behalf.</p>"
        f"<p>{_post_form('/agent', session, 'Call the agent', {})}</p>"
        f"{_agent(session, agent)}"
        f"{rows}"
        f"<h2>Done?</h2><p>{_post_form('/logout', session, 'Sign out', {}, quiet=True)}</p>"
    )
    return _html("Your profile", body)


def error_page(message: str, *, status: int = 400) -> HTMLResponse:
    body = (
        "<h1>Something went wrong</h1>"
        f'<p class="note bad">{escape(message)}</p>'
        '<p><a href="/">Back to the start</a></p>'
    )
    return _html("Error", body, status=status)


_RESULTS = {
    "linked": (
        "Linked",
        "linker checked the account you signed in to and prepared the link; it was written when "
        "your login resumed at the tenant in this browser. The new ID token says so in its "
        "https://linker/link_result claim.",
    ),
    "already_linked": ("Already linked", "That account was linked before; nothing changed."),
    "unlinked": (
        "Unlinked",
        "You confirmed it was you, and linker removed the account; it is a user of its own again.",
    ),
}


def describe_link_result(claim: object) -> Notice:
    """The `https://linker/link_result` claim `{status, identity}` as a notice."""
    if not isinstance(claim, Mapping):
        return Notice(
            "refused",
            "No link result",
            "The tenant returned no link result (was the linker Action deployed?).",
            "Check the tenant's post-login Action.",
        )
    status = str(claim.get("status", "unknown"))
    identity = _identity_text(claim.get("identity"))
    label, text = _RESULTS.get(status, (status.replace("_", " ").capitalize(), ""))
    return Notice("ok", f"{label}: {identity}" if identity else label, text)


def describe_suggestion(claim: object) -> Notice | None:
    """A sign-in's suggested link (docs/protocol.md section 8), when it linked accounts."""
    if not isinstance(claim, Mapping) or claim.get("status") != "linked":
        return None
    identity = _identity_text(claim.get("identity"))
    return Notice(
        "ok",
        "Your accounts are now one",
        f"The account you signed in with, {identity}, is now linked into your earlier "
        f"account {claim.get('primary')}: you are signed in as that one.",
    )


def _identity_text(value: object) -> str:
    if isinstance(value, Mapping):
        connection, provider = value.get("connection"), value.get("provider")
        user_id = value.get("user_id")
        full_id = f"{provider}|{user_id}" if provider and user_id else str(user_id or "")
        return f"{connection} ({full_id})" if connection else full_id
    return str(value) if value else ""


def _identities(session: Session, identities: Sequence[Identity] | None, error: str | None) -> str:
    if identities is None:
        return f'<p class="note bad">Could not list your identities: {escape(error or "")}</p>'
    rows = []
    for index, identity in enumerate(identities):
        if index == 0:
            action = "<span class=muted>primary</span>"
        else:
            fields = {"connection": identity.connection, "identity": identity.full_id}
            action = _post_form("/unlink", session, "Unlink", fields, quiet=True)
        rows.append(
            f"<tr><td>{escape(identity.connection)}</td>"
            f"<td><code>{escape(identity.user_id)}</code></td><td>{action}</td></tr>"
        )
    return (
        "<table><tr><th>Connection</th><th>User id</th><th></th></tr>" + "".join(rows) + "</table>"
    )


def _step_up(session: Session) -> str:
    """A "Sign in again" link when the My Account API wants a newer sign-in first."""
    if session.step_up is None:
        return ""
    what = "with your second factor" if session.step_up == "second_factor" else "now"
    return (
        f'<p><a class="button" href="/login?step_up={escape(session.step_up)}">'
        f"Sign in again {what}</a></p>"
    )


def _agent(session: Session, outcome: AgentOutcome | None) -> str:
    if outcome is None:
        return ""
    if outcome.got_scopes is not None:
        scopes = " ".join(outcome.got_scopes) or "none listed"
        return f'<p class="note">The agent got a Google token (scopes {escape(scopes)}).</p>'
    if outcome.link_connection is not None:
        fields = {
            "connection": outcome.link_connection,
            "connection_scope": " ".join(outcome.link_scopes),
        }
        button = _post_form("/connect", session, "Connect Google Calendar", fields)
        return (
            '<p class="note">The agent needs access to your Google Calendar, which is not '
            f"connected yet.</p><p>{button}</p>"
        )
    return f'<p class="note bad">The agent failed: {escape(outcome.error or "unknown error")}</p>'


def _post_form(
    action: str, session: Session, label: str, fields: Mapping[str, str], *, quiet: bool = False
) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in {"csrf": session.csrf_token, **fields}.items()
    )
    css = ' class="quiet"' if quiet else ""
    return (
        f'<form method="post" action="{escape(action)}">{hidden}'
        f"<button type=submit{css}>{escape(label)}</button></form>"
    )


_NOTICE_CLASS = {"ok": "note ok", "refused": "note bad", "info": "note"}


def _notice(notice: Notice | None) -> str:
    """A success, a refusal (that says what to do next), or information, each styled as such."""
    if notice is None:
        return ""
    parts = [f'<p class="title">{escape(notice.title)}</p>']
    if notice.text:
        parts.append(f"<p>{escape(notice.text)}</p>")
    if notice.next:
        code = f' <span class="code">(code {escape(notice.code)})</span>' if notice.code else ""
        parts.append(f"<p><b>What to do next:</b> {escape(notice.next)}{code}</p>")
    return (
        f'<div class="{_NOTICE_CLASS[notice.kind]}" role="status" data-kind="{notice.kind}">'
        + "".join(parts)
        + "</div>"
    )


# Two chain links: both apps' icon, so that no browser's favicon request ends in a 404.
FAVICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16" fill="none" stroke="#3358d4" '
    'stroke-width="2"><rect x="1" y="5" width="8" height="6" rx="3"/>'
    '<rect x="7" y="5" width="8" height="6" rx="3"/></svg>'
)
FAVICON_LINK = '<link rel="icon" href="/favicon.ico" type="image/svg+xml">'


async def favicon(request: Request) -> Response:
    return Response(
        FAVICON_SVG, media_type="image/svg+xml", headers={"cache-control": "max-age=86400"}
    )


def _html(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"{FAVICON_LINK}"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
    return HTMLResponse(page, status_code=status, headers=HEADERS)
