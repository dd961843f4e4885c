"""Refresh token rotation, as Auth0 does it for clients that turn it on (single-page apps).

Each use of a rotating refresh token spends it and answers a successor from the same family.
A spent token presented again means two parties hold the family (a stolen token, or a
client that kept a stale copy): the whole family is revoked and the request refused, so the
user has to sign in again. Non-rotating tokens stay valid until revoked, as before.
"""

from __future__ import annotations

from dataclasses import replace

from linker.devtenant.seed import Client
from linker.devtenant.state import RefreshToken, TenantState


def spend_refresh_token(tenant: TenantState, presented: str) -> RefreshToken | None:
    """The grant behind `presented`; None when unknown, and for a reused rotated token,
    after revoking every token of its family."""
    family = tenant.rotated_refresh_tokens.get(presented)
    if family is not None:
        revoke_family(tenant, family)
        return None
    return tenant.refresh_tokens.get(presented)


def rotate_if_configured(
    tenant: TenantState, client: Client, presented: str, grant: RefreshToken
) -> str | None:
    """For a rotating client: spend `presented` and return its successor; else None."""
    if not client.rotate_refresh_tokens:
        return None
    tenant.refresh_tokens.pop(presented, None)
    tenant.rotated_refresh_tokens[presented] = grant.family
    return tenant.issue_refresh_token(replace(grant))


def revoke_family(tenant: TenantState, family: str) -> None:
    tenant.refresh_tokens = {
        key: token for key, token in tenant.refresh_tokens.items() if token.family != family
    }
