"""The post-login Action's `event`, and what the Action asked for, as plain data.

`build_event` gives the Node worker the data Auth0 would put in `event` (the worker adds the
`api` object around it); `ActionOutcome` is the worker's answer: deny, redirect, custom claims,
or the error the Action threw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from linker.devtenant.authorize_request import AuthRequest
from linker.devtenant.directory import User, identity_json
from linker.devtenant.seed import Client, Connection
from linker.devtenant.state import Session


@dataclass(frozen=True)
class RequestInfo:
    """The HTTP request that is running the Action (`event.request`)."""

    ip: str
    hostname: str
    method: str
    query: Mapping[str, str]
    body: Mapping[str, str]
    user_agent: str | None = None


# `event.transaction.protocol` values Auth0 documents for post-login
# (https://auth0.com/docs/customize/actions/explore-triggers/signup-and-login-triggers/login-trigger/post-login-event-object),
# and whether the transaction is interactive: a browser is there, so `api.redirect` works.
# Auth0 refuses a redirect otherwise (https://auth0.com/docs/customize/actions/explore-triggers/signup-and-login-triggers/login-trigger/redirect-with-actions).
PROTOCOLS: Mapping[str, bool] = {
    "oidc-basic-profile": True,
    "oidc-implicit-profile": True,
    "oidc-hybrid-profile": True,
    "samlp": True,
    "wsfed": True,
    "oauth2-device-code": False,
    "oauth2-resource-owner": False,
    "oauth2-resource-owner-jwt-bearer": False,
    "oauth2-password": False,
    "oauth2-access-token": False,
    "oauth2-refresh-token": False,
    "oauth2-token-exchange": False,
    "wstrust-usernamemixed": False,
}


def can_redirect(protocol: str, *, silent: bool) -> bool:
    """What `api.redirect.canRedirect()` answers: an interactive protocol, not `prompt=none`."""
    return PROTOCOLS.get(protocol, False) and not silent


@dataclass(frozen=True)
class ActionOutcome:
    deny: str | None = None
    redirect_url: str | None = None
    redirect_query: Mapping[str, str] = field(default_factory=dict)
    id_token_claims: Mapping[str, Any] = field(default_factory=dict)
    access_token_claims: Mapping[str, Any] = field(default_factory=dict)
    thrown: str | None = None  # the Action threw: Auth0 fails the login with its message
    user_metadata: Mapping[str, Any] = field(default_factory=dict)  # api.user.setUserMetadata
    app_metadata: Mapping[str, Any] = field(default_factory=dict)  # api.user.setAppMetadata
    recorded_methods: tuple[str, ...] = ()  # api.authentication.recordMethod
    challenge: Mapping[str, Any] | None = None  # api.authentication.challengeWith & co.
    primary_user: str | None = None  # api.authentication.setPrimaryUser

    @classmethod
    def from_worker(cls, data: Mapping[str, Any]) -> ActionOutcome:
        redirect = data.get("redirect") or {}
        return cls(
            deny=data.get("deny"),
            redirect_url=redirect.get("url"),
            redirect_query={k: _query_value(v) for k, v in (redirect.get("query") or {}).items()},
            id_token_claims=dict(data.get("idToken") or {}),
            access_token_claims=dict(data.get("accessToken") or {}),
            thrown=data.get("thrown"),
            user_metadata=dict(data.get("userMetadata") or {}),
            app_metadata=dict(data.get("appMetadata") or {}),
            recorded_methods=tuple(str(m) for m in data.get("recordedMethods") or ()),
            challenge=data.get("challenge"),
            primary_user=data.get("primaryUser"),
        )


def build_event(
    *,
    tenant_domain: str,
    client: Client,
    user: User,
    connection: Connection,
    session: Session,
    auth: AuthRequest | None,
    protocol: str,
    request: RequestInfo,
    secrets: Mapping[str, str],
    scopes: Sequence[str] = (),
) -> dict[str, Any]:
    """Auth0's post-login `event` (the fields linker's shim and most Actions read).

    `auth` is None outside `/authorize` (a refresh token grant): `scopes` are then the grant's.
    """
    requested = list(auth.scopes) if auth is not None else list(scopes)
    return {
        "client": {"client_id": client.client_id, "name": client.name},
        "connection": {
            "id": connection.id,
            "name": connection.name,
            "strategy": connection.strategy,
        },
        "tenant": {"id": tenant_domain.split(":")[0]},
        "user": {
            "user_id": user.user_id,
            "email": user.profile.email,
            "email_verified": user.profile.email_verified,
            "name": user.profile.name,
            "identities": [identity_json(i, primary=n == 0) for n, i in enumerate(user.identities)],
            "enrolledFactors": [{"type": t} for t in user.enrolled_factors],
            "user_metadata": user.user_metadata,
            "app_metadata": user.app_metadata,
        },
        "authentication": {
            "methods": [{"name": m.name, "timestamp": _iso(m.timestamp)} for m in session.methods],
        },
        "request": {
            "ip": request.ip,
            "hostname": request.hostname,
            "method": request.method,
            "query": dict(request.query),
            "body": dict(request.body),
            "user_agent": request.user_agent,
        },
        "transaction": {
            "id": auth.transaction_id if auth is not None else None,
            "protocol": protocol,
            "requested_scopes": requested,
            "redirect_uri": auth.redirect_uri if auth is not None else None,
            "state": auth.state if auth is not None else None,
            "response_type": ["code"],
        },
        "session": {"id": session.id},
        "secrets": dict(secrets),
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _query_value(value: Any) -> str:
    return value if isinstance(value, str) else str(value)
