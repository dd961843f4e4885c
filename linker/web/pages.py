"""The HTML pages the service shows: an error page, the auto-POST resume page, and the page
that shows the account about to be linked.

Everything shown is escaped. The resume page's one inline script is allowed by its hash in
the Content-Security-Policy; the form's target is always the tenant's `/continue`.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

from starlette.responses import HTMLResponse

from linker.core.shown_account import ShownAccount

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;"
    "color:#1d2433}code{background:#eef1f6;padding:.1rem .3rem;border-radius:3px}"
    "button{font-size:1rem;padding:.5rem 1rem}"
)
_SUBMIT = "document.forms[0].submit();"
_SUBMIT_HASH = base64.b64encode(hashlib.sha256(_SUBMIT.encode()).digest()).decode()

SECURITY_HEADERS = {
    "cache-control": "no-store",
    "pragma": "no-cache",
    # The start URL carries the session token; never let it leave in a Referer header.
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def error_page(code: str, description: str, *, status: int = 400) -> HTMLResponse:
    """A dead end: shown when no trusted transaction or user is there to resume."""
    body = (
        "<h1>Account linking failed</h1>"
        f"<p>{escape(description)}</p>"
        f"<p>Error code: <code>{escape(code)}</code></p>"
        "<p>Return to the application and try again.</p>"
    )
    headers = {
        **SECURITY_HEADERS,
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    return HTMLResponse(_page("Account linking failed", body), status_code=status, headers=headers)


def resume_page(continue_url: str, *, state: str, session_token: str) -> HTMLResponse:
    """Posts `state` and `session_token` to the tenant's `/continue`; a button if JS is off."""
    body = (
        f'<form method="post" action="{escape(continue_url)}">'
        f'<input type="hidden" name="state" value="{escape(state)}">'
        f'<input type="hidden" name="session_token" value="{escape(session_token)}">'
        "<p>Returning you to the application…</p>"
        "<noscript><p>JavaScript is off: press the button to continue.</p></noscript>"
        '<button type="submit">Continue</button></form>'
        f"<script>{_SUBMIT}</script>"
    )
    # No `form-action`: browsers apply it to the redirects after the POST too, and /continue
    # redirects on to the application, whose address is not ours to know.
    csp = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{_SUBMIT_HASH}'"
    headers = {**SECURITY_HEADERS, "content-security-policy": csp}
    return HTMLResponse(_page("Continue", body), headers=headers)


def confirm_page(account: ShownAccount, *, action: str, state: str, token: str) -> HTMLResponse:
    """The account about to be linked, with Link and Cancel: two POST forms to `action`, each
    with the transaction's `state` and the confirmation's one-time `token`."""
    who = "".join(
        f"<p>{escape(text)}</p>" for text in (account.name, account.email) if text is not None
    )
    picture = (
        f'<img src="{escape(account.picture)}" alt="" width="64" height="64" '
        'referrerpolicy="no-referrer">'
        if account.picture
        else ""
    )

    def form(choice: str, label: str) -> str:
        return (
            f'<form method="post" action="{escape(action)}" style="display:inline">'
            f'<input type="hidden" name="state" value="{escape(state)}">'
            f'<input type="hidden" name="token" value="{escape(token)}">'
            f'<input type="hidden" name="choice" value="{choice}">'
            f'<button type="submit">{label}</button></form> '
        )

    body = (
        "<h1>Link this account?</h1>"
        f"<p>You are about to link this <strong>{escape(account.connection)}</strong> account "
        "to the account you are signed in with:</p>"
        f"{picture}{who}"
        "<p>If this is not your account, cancel: nothing will be linked.</p>"
        f"{form('link', 'Link')}{form('cancel', 'Cancel')}"
    )
    # Only https pictures; the forms post here and nowhere else; no script at all. The page's
    # own address goes to linker only (`same-origin`): with `no-referrer` a browser sends
    # `Origin: null` with the POST, and linker checks that Origin.
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src https:; form-action 'self'"
    headers = {
        **SECURITY_HEADERS,
        "content-security-policy": csp,
        "referrer-policy": "same-origin",
    }
    return HTMLResponse(_page("Link this account?", body), headers=headers)
