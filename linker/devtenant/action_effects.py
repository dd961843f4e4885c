"""What an Action asked of the user and the session, applied after it ran.

- `api.user.setUserMetadata` / `setAppMetadata`: Auth0 applies them after the Actions, in one
  update of the user, even when the login is then denied (post-login API object:
  https://auth0.com/docs/customize/actions/explore-triggers/signup-and-login-triggers/login-trigger/post-login-api-object).
- `api.authentication.recordMethod(url)`: the session's `authentication.methods` gains it.
- `api.authentication.challengeWith` and its siblings: a user with no enrolled factor is let
  through (Auth0 ignores a factor the user has not enrolled); a session that already did MFA
  satisfies it; anything else would need the MFA prompt the dev tenant does not model, so the
  login fails with a message that says so.
"""

from __future__ import annotations

from typing import Any

from linker.devtenant.action_event import ActionOutcome
from linker.devtenant.directory import User
from linker.devtenant.state import AuthMethod, Session, TenantState


def apply_user_changes(tenant: TenantState, user: User, outcome: ActionOutcome) -> None:
    patch: dict[str, Any] = {}
    if outcome.user_metadata:
        patch["user_metadata"] = dict(outcome.user_metadata)
    if outcome.app_metadata:
        patch["app_metadata"] = dict(outcome.app_metadata)
    if patch:
        tenant.directory.patch(user.user_id, patch)


def apply_session_changes(
    tenant: TenantState, user: User, session: Session, outcome: ActionOutcome
) -> str | None:
    """Record methods; a reason to fail the login when a challenge cannot be met here."""
    now = tenant.now()
    for url in outcome.recorded_methods:
        session.methods = (*session.methods, AuthMethod(url, now))
    if outcome.challenge is None:
        return None
    kind = str(outcome.challenge.get("kind", ""))
    if kind.startswith("challenge") and not user.enrolled_factors:
        return None
    if kind.startswith("challenge") and any(m.name == "mfa" for m in session.methods):
        return None
    return f"api.authentication.{kind} needs an MFA prompt, which the dev tenant does not model"
