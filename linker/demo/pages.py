"""The sample app's HTML: a landing page, the profile page, and an error page.

Plain HTML with a little CSS and no JavaScript. Everything shown passes through `escape`,
including values the tenant or the URL supplied. Buttons that change something are POST forms
carrying the session's CSRF token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from starlette.responses import HTMLResponse

from linker.demo.sessions import AgentOutcome, Session
from linker.tokens import Identity

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
    ".bad{background:#fff1f0;border-left-color:#c93a2f}.muted{color:#5b6577}"
)

# No scripts and no frames; styles only from the page itself.
HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
}


def landing_page(message: str | None) -> HTMLResponse:
    """Not signed in: what the demo is, and a Sign in button."""
    body = (
        "<h1>linker demo app</h1>"
        f"{_note(message)}"
        "<p>A small web app that links accounts through <code>linker</code>. Sign in (as "
        "<b>alice</b> with Google, say), then link her GitHub account from your profile.</p>"
        '<p><a class="button" href="/login">Sign in</a></p>'
    )
    return _html("linker demo app", body)


def profile_page(
    session: Session, identities: Sequence[Identity] | None, identities_error: str | None
) -> HTMLResponse:
    """Signed in: who you are, your identities with Link/Unlink, the agent, Sign out."""
    claims = session.claims
    name = str(claims.get("name") or claims.get("nickname") or session.user_id)
    body = (
        f"<h1>Hello, {escape(name)}</h1>"
        f"{_note(session.last_result, label='Last attempt')}"
        f"<p>Email: {escape(str(claims.get('email', '—')))}"
        f" <span class=muted>(user id <code>{escape(session.user_id)}</code>)</span></p>"
        "<h2>Your identities</h2>"
        f"{_identities(session, identities, identities_error)}"
        "<h2>Link another account</h2><p>"
        + "".join(
            _post_form("/link", session, label, {"connection": connection})
            for connection, label in LINK_BUTTONS
        )
        + "</p><h2>Agent</h2>"
        "<p>An agent in this app asks Token Vault for a Google Calendar token on your behalf.</p>"
        f"<p>{_post_form('/agent', session, 'Call the agent', {})}</p>"
        f"{_agent(session, session.agent)}"
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


def describe_link_result(claim: object) -> str:
    """The `https://linker/link_result` claim `{status, identity}` as a sentence."""
    if not isinstance(claim, Mapping):
        return "The tenant returned no link result (was the linker Action deployed?)."
    status = str(claim.get("status", "unknown"))
    identity = _identity_text(claim.get("identity"))
    return f"{status.replace('_', ' ')}: {identity}" if identity else status.replace("_", " ")


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


def _note(message: str | None, *, label: str | None = None) -> str:
    if not message:
        return ""
    prefix = f"<b>{escape(label)}:</b> " if label else ""
    return f'<p class="note">{prefix}{escape(message)}</p>'


def _html(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
    return HTMLResponse(page, status_code=status, headers=HEADERS)
