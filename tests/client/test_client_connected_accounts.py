"""ConnectedAccounts (the My Account API's connect flow) and TokenVault's way to it, against a
fake tenant. The flow: https://auth0.com/docs/secure/tokens/token-vault/connected-accounts-for-token-vault
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from linker.client import (
    ConnectContext,
    ConnectedAccounts,
    ConnectError,
    LinkContext,
    LinkRequired,
    LinkSettings,
    TokenVault,
    TokenVaultError,
    link_required_response,
    s256_challenge,
)
from linker.client.connected_accounts import connect_code_of

MY_TOKEN = "my-account-access-token"
CALLBACK = "https://app.example/connected"
SETTINGS = LinkSettings(domain="tenant.example.com", client_id="app", redirect_uri=CALLBACK)


class FakeMyAccount:
    """`/me/v1/connected-accounts/*` and a Token Vault that holds nothing."""

    def __init__(self, *, connect_status: int = 201) -> None:
        self.connect_status = connect_status
        self.bodies: dict[str, dict[str, Any]] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/oauth/token":
            return httpx.Response(401, json={"error": "tokenset_not_found"})
        assert request.headers["authorization"] == f"Bearer {MY_TOKEN}"
        body = json.loads(request.content)
        self.bodies[path] = body
        if path.endswith("/connect"):
            if self.connect_status != 201:
                detail = {"title": "Bad Request", "detail": "not enabled", "status": 400}
                return httpx.Response(self.connect_status, json=detail)
            return httpx.Response(
                201,
                json={
                    "connect_uri": "https://tenant.example.com/connect",
                    "auth_session": "sess-1",
                    "connect_params": {"ticket": "tkt-1"},
                    "expires_in": 300,
                },
            )
        return httpx.Response(
            201,
            json={
                "id": "cac_1",
                "connection": "slack",
                "access_type": "offline",
                "created_at": "2026-11-22T10:00:00Z",
                "scopes": ["chat:write", "users:read"],
            },
        )


def accounts_with(fake: FakeMyAccount) -> ConnectedAccounts:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return ConnectedAccounts(domain="tenant.example.com", http=http)


async def test_start_and_complete() -> None:
    fake = FakeMyAccount()
    accounts = accounts_with(fake)
    request = await accounts.start(
        MY_TOKEN, connection="slack", redirect_uri=CALLBACK, scopes="chat:write"
    )
    assert request.url == "https://tenant.example.com/connect?ticket=tkt-1"
    sent = fake.bodies["/me/v1/connected-accounts/connect"]
    assert sent == {
        "connection": "slack",
        "redirect_uri": CALLBACK,
        "state": request.state,
        "code_challenge": s256_challenge(request.code_verifier),
        "code_challenge_method": "S256",
        "scopes": ["chat:write"],
    }
    assert "tkt-1" not in repr(request) and request.state not in repr(request)

    account = await accounts.complete(
        MY_TOKEN, request, {"connect_code": "code-1", "state": request.state}
    )
    assert (account.id, account.connection) == ("cac_1", "slack")
    assert account.scopes == ("chat:write", "users:read")
    assert fake.bodies["/me/v1/connected-accounts/complete"] == {
        "auth_session": "sess-1",
        "connect_code": "code-1",
        "redirect_uri": CALLBACK,
        "code_verifier": request.code_verifier,
    }


async def test_the_callback_state_and_errors_are_checked() -> None:
    request = await accounts_with(FakeMyAccount()).start(
        MY_TOKEN, connection="slack", redirect_uri=CALLBACK
    )
    with pytest.raises(ConnectError) as wrong:
        connect_code_of({"connect_code": "c", "state": "other"}, request)
    assert wrong.value.code == "state_mismatch"
    with pytest.raises(ConnectError) as denied:
        connect_code_of({"error": "access_denied", "state": request.state}, request)
    assert denied.value.code == "access_denied"


async def test_a_refused_connect_is_a_connect_error() -> None:
    with pytest.raises(ConnectError) as caught:
        await accounts_with(FakeMyAccount(connect_status=400)).start(
            MY_TOKEN, connection="github", redirect_uri=CALLBACK
        )
    assert (caught.value.code, caught.value.status_code) == ("invalid_request", 400)
    assert caught.value.description == "not enabled"


def vault_for(fake: FakeMyAccount, via: Any) -> tuple[TokenVault, ConnectContext]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    vault = TokenVault(
        domain="tenant.example.com", client_id="a", client_secret="s", http=http, via=via
    )
    accounts = ConnectedAccounts(domain="tenant.example.com", http=http)
    return vault, ConnectContext(accounts, MY_TOKEN, CALLBACK)


async def test_via_connect_starts_the_connect_flow() -> None:
    vault, connect = vault_for(FakeMyAccount(), {"slack": "connect"})
    with pytest.raises(LinkRequired) as caught:
        await vault.exchange(
            "rt",
            connection="slack",
            scopes=["chat:write"],
            link=LinkContext(SETTINGS, "id-token"),
            connect=connect,
        )
    needed = caught.value
    assert needed.via == "connect" and needed.link_url is None
    assert needed.connect_request is not None and needed.url == needed.connect_request.url
    body = link_required_response(needed).body
    assert (
        json.loads(bytes(body))["connect_url"] == "https://tenant.example.com/connect?ticket=tkt-1"
    )


async def test_via_auto_links_when_the_tenant_says_the_connection_is_not_for_connecting() -> None:
    vault, connect = vault_for(FakeMyAccount(connect_status=400), "auto")
    with pytest.raises(LinkRequired) as caught:
        await vault.exchange(
            "rt", connection="github", link=LinkContext(SETTINGS, "id-token"), connect=connect
        )
    assert caught.value.via == "link" and caught.value.link_url is not None
    assert caught.value.url == caught.value.link_url


async def test_via_connect_with_a_refused_connect_is_a_token_vault_error() -> None:
    vault, connect = vault_for(FakeMyAccount(connect_status=400), "connect")
    with pytest.raises(TokenVaultError) as caught:
        await vault.exchange("rt", connection="github", connect=connect)
    assert (caught.value.code, caught.value.status_code) == ("invalid_request", 400)
