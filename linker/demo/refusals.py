"""What a refused (or cancelled) link, unlink or sign-in means to a person, and what to do next.

linker's refusals come back as `error=access_denied&error_description=<code>: <text>`; the
text is written for operators and is the same for a link and an unlink. The demo shows its
own words instead, chosen by the code and by what the user was doing, so that cancelling an
unlink talks about confirming who you are, not about "the other account". Both the web app
and the single-page sample (through `/explanations.json`) read this one table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

NAMES = {"github": "GitHub", "google-oauth2": "Google", "windowslive": "Microsoft"}


@dataclass(frozen=True)
class Explanation:
    """A refusal as shown: a title, what happened, and what to do next."""

    title: str
    what: str
    next: str
    code: str = ""


# (code, action) -> (title, what happened, what to do next); action "*" fits any action.
# "{account}" is the connection's name (GitHub, Google, ...).
_TEXTS: Mapping[tuple[str, str], tuple[str, str, str]] = {
    ("cancelled", "link"): (
        "Link cancelled",
        "You cancelled the sign-in to the {account} account you wanted to link, "
        "so nothing was linked.",
        "Press Link {account} again when you want to link it.",
    ),
    ("cancelled", "connect"): (
        "Connection cancelled",
        "You cancelled the sign-in at {account}, so the agent still has no access.",
        "Press Connect again and sign in at {account} to grant it.",
    ),
    ("cancelled", "unlink"): (
        "Unlink cancelled",
        "You cancelled the sign-in that confirms it is you, so {account} is still linked.",
        "Press Unlink again and sign in as yourself to remove it.",
    ),
    ("reauthentication_failed", "unlink"): (
        "Unlink refused: that was not you",
        "Unlinking needs you to sign in again as the account you are signed in with, and the "
        "sign-in was for someone else. {account} is still linked.",
        "Press Unlink again and sign in as yourself.",
    ),
    ("sub_mismatch", "*"): (
        "Link refused: the ID token is another user's",
        "The ID token sent as id_token_hint names a different user than the one signed in. "
        "linker links only into the user the hint names, and only when that user is the one "
        "signed in, so a token taken from someone else is useless.",
        "Link from your own session: the app sends your own ID token as the hint.",
    ),
    ("missing_id_token_hint", "*"): (
        "Refused: no ID token was sent",
        "A link or unlink must say whose account it is for with id_token_hint, and the "
        "request carried none.",
        "Sign out and in again, then retry.",
    ),
    ("invalid_id_token_hint", "*"): (
        "Refused: the ID token was not accepted",
        "The ID token sent as id_token_hint failed linker's checks (signature, issuer, or "
        "this application as its audience).",
        "Sign out and in again, then retry.",
    ),
    ("id_token_hint_too_old", "*"): (
        "Refused: the ID token is too old",
        "linker accepts an ID token as the hint only for a few minutes after it was issued.",
        "Try again: the app refreshes its ID token before sending it.",
    ),
    ("secondary_email_not_verified", "*"): (
        "Link refused: that account's email is not verified",
        "The {account} account you signed in to has an unverified email address. Linking it "
        "could hand your account to whoever really owns that address, so linker refuses.",
        "Verify the address at {account}, or link another account.",
    ),
    ("secondary_has_linked_identities", "*"): (
        "Link refused: that account has its own linked accounts",
        "The {account} account you signed in to already has other accounts linked into it; "
        "linking it would detach them.",
        "Sign in as that account and unlink its accounts first, or link another one.",
    ),
    ("same_account", "*"): (
        "Link refused: that is the account you are signed in with",
        "You signed in to the account you are already using, which cannot be linked to itself.",
        "Press Link again and choose a different {account} account.",
    ),
    ("email_mismatch", "*"): (
        "Link refused: the email addresses differ",
        "This deployment links only accounts with the same email address.",
        "Link an {account} account that uses your email address.",
    ),
    ("identity_conflict", "*"): (
        "Link refused: that account belongs to someone else now",
        "The tenant refused the link: that identity is already part of another user.",
        "Sign in as that user and unlink it there first, or link another account.",
    ),
    ("connection_mismatch", "*"): (
        "Link refused: wrong kind of account",
        "The account you signed in to is not on the connection the app asked for.",
        "Press Link again and sign in with {account}.",
    ),
    ("linked_to_another_user", "*"): (
        "Link refused: that account is already linked to another user",
        "The {account} account you signed in to is part of another user already, so it cannot "
        "be linked to you as well.",
        "Sign in as that user and unlink {account} there first, or link another account.",
    ),
    ("identity_not_linked", "unlink"): (
        "Unlink refused: not linked",
        "{account} is not among your linked accounts (it may have been unlinked already).",
        "Reload the page to see your accounts as they are now.",
    ),
    ("primary_identity", "unlink"): (
        "Unlink refused: that is your main account",
        "The account you signed up with is the user itself and cannot be unlinked.",
        "Unlink one of the other accounts instead.",
    ),
    ("ambiguous_identity", "unlink"): (
        "Unlink refused: which one?",
        "You have several {account} accounts linked and the request did not say which.",
        "Use the Unlink button beside the account you mean.",
    ),
    ("email_not_verified", "*"): (
        "Refused: your email is not verified",
        "This deployment links accounts only for users with a verified email address.",
        "Verify your email address, then retry.",
    ),
    ("mfa_required", "*"): (
        "Refused: multi-factor sign-in needed",
        "You have a second factor enrolled, and this deployment asks for it before linking.",
        "Sign out, sign in with your second factor, then retry.",
    ),
    ("client_not_allowed", "*"): (
        "Refused: this application may not link accounts",
        "linker is configured to accept link requests only from some applications.",
        "An operator can add this application to LINKER_ALLOWED_CLIENT_IDS.",
    ),
    ("upstream_unavailable", "*"): (
        "Failed: the tenant did not answer in time",
        "Nothing was changed.",
        "Try again in a minute.",
    ),
    ("throttled", "*"): (
        "Failed: too many links started just now",
        "Nothing was changed: linker limits how many links one network or one application "
        "can start at once.",
        "Try again in a minute.",
    ),
    ("outcome_unknown", "*"): (
        "Failed: the outcome is not known yet",
        "The change was sent to the tenant but its answer was lost; linker settles it shortly.",
        "Reload in a minute to see your accounts as they are.",
    ),
}

_LABELS = {"link": "Link", "unlink": "Unlink", "connect": "Connection", "login": "Sign-in"}


def split_description(description: str) -> tuple[str, str]:
    """`"code: text"` (the shim's denial) as (code, text); other descriptions have no code."""
    code, sep, text = description.partition(": ")
    if sep and code and all(c.islower() or c == "_" for c in code):
        return code, text
    return "", description


def explain(action: str, error: str, description: str, connection: str | None) -> Explanation:
    """The explanation of `error`/`error_description` for a user who was doing `action`."""
    code, text = split_description(description)
    if not code and ((error, action) in _TEXTS or (error, "*") in _TEXTS):
        # A refusal the SDK makes itself (a closed popup is error=cancelled, "Popup closed").
        code = error
    account = NAMES.get(connection or "", connection or "the other")
    found = _TEXTS.get((code, action)) or _TEXTS.get((code, "*"))
    if found is not None:
        title, what, nxt = (part.format(account=account) for part in found)
        return Explanation(title, what, nxt, code)
    label = _LABELS.get(action, "Request")
    return Explanation(
        f"{label} refused",
        text or error,
        "Try again; if it keeps failing, the code shown here tells an operator where to look.",
        code or error,
    )


def explanation_table() -> dict[str, dict[str, dict[str, str]]]:
    """Every text, by code then action, for the single-page sample's script."""
    table: dict[str, dict[str, dict[str, str]]] = {}
    for (code, action), (title, what, nxt) in _TEXTS.items():
        table.setdefault(code, {})[action] = asdict(Explanation(title, what, nxt, code))
    return table
