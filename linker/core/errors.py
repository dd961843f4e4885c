"""One exception type for every refusal, carrying the contract's error code.

The code is the machine-readable name from docs/protocol.md's table; the description is what a
user or operator can act on. Routes map a `LinkError` to an HTML page or to a result token
only at the edge, so the protocol logic never knows about HTTP.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """Error codes of the contract; the value is the public spelling."""

    INVALID_SESSION_TOKEN = "invalid_session_token"
    INVALID_REQUEST = "invalid_request"
    CLIENT_NOT_ALLOWED = "client_not_allowed"
    MISSING_ID_TOKEN_HINT = "missing_id_token_hint"
    INVALID_ID_TOKEN_HINT = "invalid_id_token_hint"
    ID_TOKEN_HINT_TOO_OLD = "id_token_hint_too_old"
    SUB_MISMATCH = "sub_mismatch"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    MFA_REQUIRED = "mfa_required"
    IP_MISMATCH = "ip_mismatch"
    TRANSACTION_NOT_FOUND = "transaction_not_found"
    TRANSACTION_EXPIRED = "transaction_expired"
    BROWSER_MISMATCH = "browser_mismatch"
    CANCELLED = "cancelled"
    SECONDARY_LOGIN_FAILED = "secondary_login_failed"
    INVALID_SECONDARY_TOKEN = "invalid_secondary_token"
    SAME_ACCOUNT = "same_account"
    SECONDARY_EMAIL_NOT_VERIFIED = "secondary_email_not_verified"
    EMAIL_MISMATCH = "email_mismatch"
    SECONDARY_HAS_LINKED_IDENTITIES = "secondary_has_linked_identities"
    CONNECTION_MISMATCH = "connection_mismatch"
    LINKED_TO_ANOTHER_USER = "linked_to_another_user"
    IDENTITY_NOT_LINKED = "identity_not_linked"
    PRIMARY_IDENTITY = "primary_identity"
    AMBIGUOUS_IDENTITY = "ambiguous_identity"
    REAUTHENTICATION_FAILED = "reauthentication_failed"
    LOGIN_CONNECTION_MISMATCH = "login_connection_mismatch"
    IDENTITY_CONFLICT = "identity_conflict"
    MANAGEMENT_API_ERROR = "management_api_error"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    OUTCOME_UNKNOWN = "outcome_unknown"
    # Suggested linking at sign-in (docs/protocol.md section 8).
    CANDIDATE_MISMATCH = "candidate_mismatch"
    LINK_REQUIRED = "link_required"
    # Starts refused before they fill the store (docs/protocol.md, When busy).
    THROTTLED = "throttled"


# Failures of the nested login or of upstream calls are "failed"; refusals by policy or by a
# check are "denied". The distinction lets an application tell "try again later" from "no".
FAILED_CODES = frozenset(
    {
        Code.SECONDARY_LOGIN_FAILED,
        Code.MANAGEMENT_API_ERROR,
        Code.UPSTREAM_UNAVAILABLE,
        Code.OUTCOME_UNKNOWN,
        Code.TRANSACTION_NOT_FOUND,
        Code.THROTTLED,
    }
)


class Signal(Exception):
    """Base of the exceptions linker's own parts raise to each other and catch again (a store
    or the tenant that did not answer, a token that did not verify, a body over its cap):
    each is turned into a `LinkError`, an HTTP answer or a report line before anyone sees it.
    `LinkError` is not one: it is the refusal itself, carrying the contract's code."""


class LinkError(Exception):
    """A refusal with a contract error code and a description safe to show to the user."""

    def __init__(self, code: Code, description: str, *, by_clock: bool = False) -> None:
        super().__init__(f"{code.value}: {description}")
        self.code = code
        self.description = description
        # Decided by a time check (an expiry, an age): a clock that is off could have made it,
        # and the step answers a retryable `failed` when this host's clock is off.
        self.by_clock = by_clock

    @property
    def status(self) -> str:
        """The result status this error resumes with: `failed` or `denied`."""
        return "failed" if self.code in FAILED_CODES else "denied"
