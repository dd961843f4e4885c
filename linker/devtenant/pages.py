"""The tenant's HTML: the connection chooser, a login page per connection, and error pages.

Markup contract that scripted test browsers rely on:
every choice is a `<form method="post" action="/login">` with hidden inputs. A user choice
has `<input type="hidden" name="user_id" value="PROVIDER|ID">` and a button whose text
contains the identity's email; a cancel form has `<input type="hidden" name="action"
value="cancel">`; a connection choice has `<input type="hidden" name="connection" ...>`.
Everything rendered is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"
    "form{margin:.5rem 0}button{width:100%;padding:.6rem;font-size:1rem;cursor:pointer}"
    ".cancel button{background:none;border:1px solid #999}.muted{color:#666;font-size:.9rem}"
    ".purpose{padding:.6rem .8rem;background:#eef4ff;border-left:4px solid #3358d4;"
    "border-radius:4px}"
)


@dataclass(frozen=True)
class LoginChoice:
    identity_id: str  # provider|id of the identity, not of the user it signs in as
    email: str | None
    name: str | None
    signs_in_as: str  # the owning user's id (differs for a linked secondary)
    mfa: bool  # the owner has a factor enrolled: the login includes an MFA step


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def _form(fields: dict[str, str], label: str, css: str = "", note: str = "") -> str:
    inputs = "".join(_hidden(k, v) for k, v in fields.items())
    klass = f' class="{css}"' if css else ""
    # A note goes inside its own button, so it cannot read as the label of the next one.
    below = f'<br><span class="muted">{escape(note)}</span>' if note else ""
    return (
        f'<form method="post" action="/login"{klass}>{inputs}'
        f'<button type="submit">{escape(label)}{below}</button></form>'
    )


def _cancel(state: str) -> str:
    return _form({"state": state, "action": "cancel"}, "Cancel", "cancel")


def _purpose(purpose: str | None) -> str:
    return f'<p class="purpose">{escape(purpose)}</p>' if purpose else ""


def connection_chooser(
    *, state: str, client_name: str, connections: Iterable[str], purpose: str | None = None
) -> str:
    forms = "".join(
        _form({"state": state, "connection": name}, f"Continue with {name}") for name in connections
    )
    intro = f'<p class="muted">to continue to {escape(client_name)}</p>' + _purpose(purpose)
    return _page("Sign in", intro + forms + _cancel(state))


def login_page(
    *,
    state: str,
    client_name: str,
    connection: str,
    choices: Iterable[LoginChoice],
    purpose: str | None = None,
) -> str:
    forms = []
    for choice in choices:
        fields = {"state": state, "user_id": choice.identity_id}
        if choice.mfa:
            fields["mfa"] = "1"
        label = f"Sign in as {choice.email or choice.identity_id}"
        if choice.name:
            label += f" ({choice.name})"
        note = ""
        if choice.signs_in_as != choice.identity_id:
            note = f"already linked to user {choice.signs_in_as}: signs in as that user"
        forms.append(_form(fields, label, note=note))
    intro = (
        f'<p class="muted">{escape(connection)} &middot; to continue to {escape(client_name)}</p>'
    ) + _purpose(purpose)
    empty = "" if forms else "<p>No accounts on this connection.</p>"
    return _page(f"Sign in with {connection}", intro + "".join(forms) + empty + _cancel(state))


def connect_page(
    *,
    ticket: str,
    connection: str,
    user: str,
    scopes: Iterable[str],
    accounts: Sequence[tuple[str, str]] = (),
) -> str:
    """The My Account API's connect step: allow or deny (forms post to `/connect`).

    With `accounts` ((id, label) of the user's accounts at the provider), one allow form per
    account, each with a hidden `account`; without, one allow form.
    """
    listed = "".join(f"<li><code>{escape(s)}</code></li>" for s in scopes)

    def form(action: str, label: str, css: str = "", account: str | None = None) -> str:
        klass = f' class="{css}"' if css else ""
        inputs = _hidden("ticket", ticket) + _hidden("action", action)
        if account is not None:
            inputs += _hidden("account", account)
        return (
            f'<form method="post" action="/connect"{klass}>{inputs}'
            f'<button type="submit">{escape(label)}</button></form>'
        )

    intro = (
        f'<p class="muted">for {escape(user)}: Token Vault will keep {escape(connection)}\'s '
        f"tokens for these scopes</p><ul>{listed}</ul>"
    )
    allow = [
        form("allow", f"Allow {connection} as {label}", account=id_) for id_, label in accounts
    ]
    body = intro + "".join(allow or [form("allow", f"Allow {connection}")])
    return _page(f"Connect {connection}", body + form("deny", "Deny", "cancel"))


@dataclass(frozen=True)
class NextStep:
    """What an error page says to do next, with a link when there is somewhere to go."""

    text: str
    link: tuple[str, str] | None = None  # (label, URL)


def error_page(title: str, detail: str, next_step: NextStep | None = None) -> str:
    after = ""
    if next_step is not None:
        link = ""
        if next_step.link is not None:
            label, url = next_step.link
            link = f' <a href="{escape(url)}">{escape(label)}</a>'
        after = f'<p class="next"><b>What to do next:</b> {escape(next_step.text)}{link}</p>'
    return _page(title, f"<p>{escape(detail)}</p>{after}")
