"""The My Account API's assurance rule and its Multi-Resource Refresh Token policy.

Default Policy (https://auth0.com/docs/manage-users/my-account-api, "Default Policy setting"):
with it on (seed setting `my_account_require_2fa`), tokens for the My Account API need a
second factor within 15 minutes. A user with an enrolled factor completes it at login, and a
refresh token exchange for the API more than 15 minutes after the last challenge is challenged
again; the token endpoint cannot show a challenge, so it answers `mfa_required` and the app
sends the user through a login with MFA (the dev tenant does not model the MFA API's
`mfa_token`). A user with no factor gets tokens at login, and `unmet_authentication_requirements`
on a refresh, or a silent login (`prompt=none`), after 15 minutes.

Multi-Resource Refresh Token (https://auth0.com/docs/secure/tokens/refresh-tokens/multi-resource-refresh-token,
and for this API https://auth0.com/docs/secure/call-apis-on-users-behalf/token-vault/connected-accounts-for-token-vault):
a refresh token grant may name another `audience` when the client's refresh token policies
list it (seed `my_account_refresh_scopes` for the My Account API); the scopes are those asked
(or, unasked, the policy's) that the policy allows. An audience outside the policies is
ignored: the token is for the refresh token's own audience, as Auth0 answers.

Pure: the tenant's data and time in, a decision out.
"""

from __future__ import annotations

from collections.abc import Iterable

from linker.devtenant.directory import User
from linker.devtenant.seed import Client
from linker.devtenant.state import AuthMethod, RefreshToken, TenantState

WINDOW = 15 * 60  # seconds: the Default Policy's "2FA within 15 minutes"
MFA_REQUIRED = "mfa_required"
UNMET = "unmet_authentication_requirements"
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})


def applies(tenant: TenantState, audience: str | None) -> bool:
    return audience == tenant.my_account_audience and tenant.settings.my_account_require_2fa


def last_mfa(methods: Iterable[AuthMethod]) -> float | None:
    times = [m.timestamp for m in methods if m.name == "mfa"]
    return max(times, default=None)


def refresh_refusal(
    tenant: TenantState, user: User, methods: Iterable[AuthMethod], auth_time: float
) -> tuple[str, str] | None:
    """(error, description) when a refresh for the My Account API must not issue a token."""
    now = tenant.now()
    if user.enrolled_factors:
        challenged = last_mfa(methods)
        if challenged is None or now - challenged > WINDOW:
            return MFA_REQUIRED, (
                "Multifactor authentication required: the My Account API needs a second factor "
                "within the last 15 minutes."
            )
        return None
    if now - auth_time > WINDOW:
        return UNMET, (
            "The user cannot meet the My Account API's authentication requirements: sign in again."
        )
    return None


def session_meets(
    tenant: TenantState, user: User, methods: Iterable[AuthMethod], auth_time: float
) -> bool:
    """Whether an SSO session may be reused for a My Account API login without a new one."""
    return refresh_refusal(tenant, user, methods, auth_time) is None


def silent_refusal(user: User) -> tuple[str, str]:
    """What `prompt=none` answers when the session does not meet the policy."""
    if user.enrolled_factors:
        return "interaction_required", "Multifactor authentication required"
    return UNMET, "The user cannot meet the My Account API's authentication requirements"


def login_refusal(user: User, methods: Iterable[AuthMethod]) -> str | None:
    """A login for the My Account API by a user with a factor must include it."""
    if user.enrolled_factors and last_mfa(methods) is None:
        return "The My Account API requires the second factor at login"
    return None


def refreshed_audience(
    tenant: TenantState, client: Client, grant: RefreshToken, form: dict[str, str]
) -> tuple[str | None, tuple[str, ...]]:
    """The audience and scopes of the access token a refresh token grant issues."""
    requested = form.get("audience") or None
    if requested is None or requested == grant.audience:
        # "If not sent, the original scopes will be used; otherwise you can request a reduced
        # set of scopes": of those asked, the ones granted (never more than the grant).
        narrower = form.get("scope", "").split()
        kept = tuple(s for s in grant.scopes if s in narrower) if narrower else grant.scopes
        return grant.audience, kept
    policy = client.my_account_refresh_scopes
    if requested != tenant.my_account_audience or not policy:
        return grant.audience, grant.scopes  # outside the policies: silently the original
    asked = tuple(form.get("scope", "").split()) or policy
    kept = tuple(s for s in asked if s in policy or (s in OIDC_SCOPES and s in grant.scopes))
    return requested, kept
