"""The client helpers at their edges: a refresh token the tenant rotates under them, errors
that cross a process boundary, an id that would leave its path, a domain that is not one, the
Management API's page size and a listing it cannot read."""

from __future__ import annotations

import pickle
from urllib.parse import parse_qs

import httpx
import pytest

from linker.client import (
    ConnectContext,
    ConnectedAccounts,
    ConnectedAccountsCheck,
    LinkRequired,
    ManagementApiError,
    StepUpRequired,
    TokenVault,
    TokenVaultError,
)

DOMAIN = "tenant.example.com"
CALLBACK = "https://app.example/connected"
OLD, ROTATED = "v1.refresh-original", "v1.refresh-rotated"
MY_ACCOUNT = "create:me:connected_accounts read:me:connected_accounts delete:me:connected_accounts"


def tenant_with_rotation(connect_status: int) -> httpx.AsyncClient:
    """Token Vault holds nothing for the connection; the refresh grant for the My Account API
    rotates the refresh token (the one sent is spent); the connect call answers
    `connect_status`."""
    spent: set[str] = set()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            if form["grant_type"] == "refresh_token":
                spent.add(form["refresh_token"])
                body = {"access_token": "me", "expires_in": 600, "scope": MY_ACCOUNT}
                return httpx.Response(200, json={**body, "refresh_token": ROTATED})
            if form["subject_token"] in spent:
                return httpx.Response(403, json={"error": "invalid_grant"})
            return httpx.Response(401, json={"error": "tokenset_not_found"})
        if connect_status != 201:
            return httpx.Response(connect_status, json={"error": "invalid_request"})
        ticket = {"connect_params": {"ticket": "t"}, "auth_session": "s", "expires_in": 300}
        return httpx.Response(201, json={"connect_uri": f"https://{DOMAIN}/connect", **ticket})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(
    ("connect_status", "raised"), [(201, LinkRequired), (500, TokenVaultError)]
)
async def test_a_refresh_token_rotated_on_the_way_is_handed_back(
    connect_status: int, raised: type[Exception]
) -> None:
    """Getting a My Account API token spent the caller's refresh token (rotation): whatever
    the exchange ends in, the successor comes back with it, and never in its message."""
    http = tenant_with_rotation(connect_status)
    vault = TokenVault(
        domain=DOMAIN, client_id="app", client_secret="secret", http=http, via="connect"
    )
    context = ConnectContext(ConnectedAccounts(domain=DOMAIN, http=http), None, CALLBACK)
    with pytest.raises(raised) as caught:
        await vault.exchange(OLD, connection="slack", connect=context)
    error = caught.value
    assert isinstance(error, LinkRequired | TokenVaultError)
    assert error.rotated_refresh_token == ROTATED
    assert ROTATED not in str(error) and ROTATED not in repr(error)
    # The old one is spent at the tenant: the successor is the one to keep.
    with pytest.raises(TokenVaultError) as spent:
        await vault.exchange(OLD, connection="slack")
    assert spent.value.code == "invalid_grant"


async def test_an_access_token_given_rotates_nothing() -> None:
    http = tenant_with_rotation(201)
    vault = TokenVault(
        domain=DOMAIN, client_id="app", client_secret="secret", http=http, via="connect"
    )
    context = ConnectContext(ConnectedAccounts(domain=DOMAIN, http=http), "me", CALLBACK)
    with pytest.raises(LinkRequired) as caught:
        await vault.exchange(OLD, connection="slack", connect=context)
    assert caught.value.rotated_refresh_token is None


@pytest.mark.parametrize(
    "error",
    [
        TokenVaultError("access_denied", "no", status_code=403),
        ManagementApiError("too_many_requests", "slow down", status_code=429),
        LinkRequired("slack", ["chat:write"], why="configured").keeping(ROTATED),
        StepUpRequired("mfa_required", "again", ask_for="second_factor", status_code=403),
    ],
    ids=lambda error: type(error).__name__,
)
def test_errors_cross_a_process_boundary_whole(error: Exception) -> None:
    """Process pools and task queues pickle exceptions: each comes back the same."""
    back = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes, just made)
    assert type(back) is type(error) and str(back) == str(error)
    assert vars(back) == vars(error)


@pytest.mark.parametrize("account_id", ["", ".", "..", "a/b"])
async def test_deleting_names_one_account_and_nothing_above_it(account_id: str) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    with pytest.raises(ValueError, match="account_id"):
        await ConnectedAccounts(domain=DOMAIN, http=http).delete("me", account_id)
    assert sent == []


@pytest.mark.parametrize("domain", ["https://tenant.example.com", "evil.example/x#", ""])
def test_token_vault_takes_a_bare_domain_only(domain: str) -> None:
    """The client secret and the refresh token are posted there."""
    with pytest.raises(ValueError, match="domain"):
        TokenVault(domain=domain, client_id="app", client_secret="secret")


def management_api(items: list[object], takes: list[str]) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "m2m", "expires_in": 86400})
        takes.append(request.url.params["take"])
        return httpx.Response(200, json={"connected_accounts": items})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


async def test_the_check_pages_within_auth0s_documented_take() -> None:
    """Auth0 documents `take` for this endpoint as "defaults to 10 with a maximum of 20"."""
    takes: list[str] = []
    http = management_api([], takes)
    check = ConnectedAccountsCheck(domain=DOMAIN, client_id="m2m", client_secret="s", http=http)
    assert await check.list("auth0|alice") == []
    assert takes and all(1 <= int(take) <= 20 for take in takes)


async def test_a_listing_entry_the_check_cannot_read_is_a_management_api_error() -> None:
    no_created_at = {"id": "cac_1", "connection": "slack", "scopes": ["chat:write"]}
    http = management_api([no_created_at], [])
    check = ConnectedAccountsCheck(domain=DOMAIN, client_id="m2m", client_secret="s", http=http)
    with pytest.raises(ManagementApiError) as caught:
        await check.find("auth0|alice", "slack")
    assert caught.value.code == "invalid_response"
