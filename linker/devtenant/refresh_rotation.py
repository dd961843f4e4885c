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


def spend_for_rotation(
    tenant: TenantState, client: Client, presented: str, grant: RefreshToken
) -> bool:
    """For a rotating client, spend `presented` now, before anything is awaited: a second
    request with it while this one runs the Action is a reuse (its family revoked), as a
    token is used once. It stays spent if the exchange then fails (the Action denies): the
    user signs in again. False for a client that does not rotate."""
    if not client.rotate_refresh_tokens:
        return False
    tenant.refresh_tokens.pop(presented, None)
    tenant.rotated_refresh_tokens[presented] = grant.family
    return True


def successor(tenant: TenantState, grant: RefreshToken) -> str:
    """The next token of `grant`'s family."""
    return tenant.issue_refresh_token(replace(grant))


def revoke_family(tenant: TenantState, family: str) -> None:
    tenant.refresh_tokens = {
        key: token for key, token in tenant.refresh_tokens.items() if token.family != family
    }
