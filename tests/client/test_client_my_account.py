"""The My Account API as Auth0 runs it now, from the client's side, against fake answers:
MRRT and the 2FA rule (`StepUpRequired`), `login_hint`, the connect_code wherever the redirect
carries it, list and delete, `via="auto"` saying why, and the Management API check.

Pages: https://auth0.com/docs/manage-users/my-account-api,
https://auth0.com/docs/secure/call-apis-on-users-behalf/token-vault/connected-accounts-for-token-vault.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from linker.client import (
    ConnectContext,
    ConnectedAccounts,
    ConnectedAccountsCheck,
    ConnectError,
    ConnectRequest,
    LinkRequired,
    ManagementApiError,
    StepUpRequired,
    TokenVault,
    TokenVaultError,
)
from linker.client.connected_accounts import (
    CONNECTED_ACCOUNTS_SCOPES,
    callback_params,
    connect_body,
    connect_code_of,
    parse_my_account_token,
)
from linker.client.errors import MFA_ACR
from linker.testing import FakeClock

Handler = Callable[[httpx.Request], httpx.Response]
DOMAIN = "tenant.example.com"
CALLBACK = "https://app.example/connected"
ACCOUNT = {
    "id": "cac_1",
    "connection": "slack",
    "access_type": "offline",
    "created_at": "2026-11-22T10:00:00Z",
    "scopes": ["chat:write"],
}


def client(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def request_for(state: str = "st") -> ConnectRequest:
    return ConnectRequest(
        url="https://t/connect?ticket=x",
        auth_session="sess",
        state=state,
        code_verifier="v" * 43,
        connection="slack",
        redirect_uri=CALLBACK,
        scopes=(),
        expires_in=300,
    )


# -- MRRT and the Default Policy ---------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "ask_for"),
    [("mfa_required", "second_factor"), ("unmet_authentication_requirements", "sign_in")],
)
def test_the_2fa_rule_is_step_up_required_saying_what_to_ask(error: str, ask_for: str) -> None:
    with pytest.raises(StepUpRequired) as caught:
        parse_my_account_token(403, {"error": error, "error_description": "d"}, ())
    assert (caught.value.code, caught.value.ask_for, caught.value.status_code) == (
        error,
        ask_for,
        403,
    )
    params = caught.value.authorize_params
    assert params["prompt"] == "login"
    assert (params.get("acr_values") == MFA_ACR) == (ask_for == "second_factor")
    assert caught.value.message.startswith("To connect an account, sign in again")


def test_an_answer_without_the_scopes_asked_names_the_missing_policy() -> None:
    # Auth0 silently answers a token for the refresh token's own audience without MRRT.
    with pytest.raises(ConnectError) as caught:
        parse_my_account_token(
            200, {"access_token": "t", "scope": "openid"}, CONNECTED_ACCOUNTS_SCOPES
        )
    assert caught.value.code == "insufficient_scope" and "MRRT" in caught.value.description
    with pytest.raises(ConnectError) as malformed:
        parse_my_account_token(200, {"scope": "x"}, ())
    assert malformed.value.code == "invalid_response"
    with pytest.raises(ConnectError) as other:
        parse_my_account_token(403, {"error": "invalid_grant"}, ())
    assert other.value.code == "invalid_grant"


async def test_a_refusal_quoting_the_refresh_token_is_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403, json={"error": "invalid_grant", "error_description": "bad token rt-secret-1"}
        )

    async with ConnectedAccounts(domain=DOMAIN, http=client(handler)) as accounts:
        with pytest.raises(ConnectError) as caught:
            await accounts.token_from_refresh_token("rt-secret-1", client_id="app")
        with pytest.raises(ValueError):
            await accounts.token_from_refresh_token("", client_id="app")
    assert "rt-secret-1" not in str(caught.value)
    assert caught.value.description == "bad token [refresh token]"


async def test_token_from_refresh_token_posts_the_mrrt_grant() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(httpx.QueryParams(request.content.decode())))
        scope = " ".join(CONNECTED_ACCOUNTS_SCOPES)
        return httpx.Response(200, json={"access_token": "my", "expires_in": 60, "scope": scope})

    async with ConnectedAccounts(domain=DOMAIN, http=client(handler)) as accounts:
        token = await accounts.token_from_refresh_token("rt", client_id="app", client_secret="s")
        public = await accounts.token_from_refresh_token("rt", client_id="spa")
    assert token.access_token == "my" and "my" not in repr(token)
    assert seen[0] == {
        "grant_type": "refresh_token",
        "client_id": "app",
        "client_secret": "s",
        "refresh_token": "rt",
        "audience": f"https://{DOMAIN}/me/",
        "scope": " ".join(CONNECTED_ACCOUNTS_SCOPES),
    }
    assert "client_secret" not in seen[1] and public.scopes == CONNECTED_ACCOUNTS_SCOPES


# -- the connect flow: login_hint, the connect_code, list and delete ----------------------


def test_login_hint_goes_in_authorization_params() -> None:
    body = connect_body(
        connection="github",
        redirect_uri=CALLBACK,
        state="s",
        code_verifier="v" * 43,
        scopes=None,
        login_hint="me@work.example",
    )
    assert body["authorization_params"] == {"login_hint": "me@work.example"}
    plain = connect_body(
        connection="github", redirect_uri=CALLBACK, state="s", code_verifier="v" * 43, scopes=None
    )
    assert "authorization_params" not in plain


def test_the_connect_code_is_read_from_the_query_or_the_fragment() -> None:
    request = request_for()
    assert connect_code_of(f"{CALLBACK}?connect_code=q&state=st", request) == "q"
    assert connect_code_of(f"{CALLBACK}#connect_code=f&state=st", request) == "f"
    # The query wins when it carries the answer; an error there is the answer.
    assert connect_code_of(f"{CALLBACK}?connect_code=q&state=st#connect_code=f", request) == "q"
    with pytest.raises(ConnectError) as denied:
        connect_code_of(f"{CALLBACK}?error=access_denied&state=st#connect_code=f&state=st", request)
    assert denied.value.code == "access_denied"
    with pytest.raises(ConnectError) as forged:
        connect_code_of(f"{CALLBACK}#connect_code=f&state=other", request)
    assert forged.value.code == "state_mismatch"
    with pytest.raises(ConnectError) as long:
        callback_params(CALLBACK + "?x=" + "a" * 9000)
    assert long.value.code == "invalid_request"
    assert callback_params({"connect_code": "m"}) == {"connect_code": "m"}


async def test_list_and_delete() -> None:
    calls: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, str(request.url)))
        if request.method == "GET":
            return httpx.Response(200, json={"accounts": [ACCOUNT]})
        if request.url.path.endswith("/cac_1"):
            return httpx.Response(204)
        return httpx.Response(404, json={"title": "Not Found", "detail": "No such account."})

    async with ConnectedAccounts(domain=DOMAIN, http=client(handler)) as accounts:
        listed = await accounts.list("tok", connection="slack")
        await accounts.delete("tok", "cac_1")
        with pytest.raises(ConnectError) as missing:
            await accounts.delete("tok", "cac_2")
        with pytest.raises(ValueError):
            await accounts.delete("tok", "../x")
    assert [a.id for a in listed] == ["cac_1"]
    base = f"https://{DOMAIN}/me/v1/connected-accounts/accounts"
    assert calls[:2] == [("GET", f"{base}?connection=slack"), ("DELETE", f"{base}/cac_1")]
    assert missing.value.code == "not_found"


async def test_an_api_step_up_challenge_is_step_up_required() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        challenge = 'Bearer error="insufficient_user_authentication", max_age=900'
        return httpx.Response(
            401, json={"detail": "Step-up required"}, headers={"www-authenticate": challenge}
        )

    async with ConnectedAccounts(domain=DOMAIN, http=client(handler)) as accounts:
        with pytest.raises(StepUpRequired) as caught:
            await accounts.list("tok")
    assert caught.value.ask_for == "second_factor"


async def test_a_malformed_listing_is_invalid_response() -> None:
    async with ConnectedAccounts(
        domain=DOMAIN, http=client(lambda r: httpx.Response(200, json={"accounts": "no"}))
    ) as accounts:
        with pytest.raises(ConnectError) as caught:
            await accounts.list("tok")
    assert caught.value.code == "invalid_response"


# -- via="auto": which way, and why ---------------------------------------------------------


def tenant(*, connect_status: int, mrrt: httpx.Response | None = None) -> Handler:
    """Token Vault holds nothing; the connect endpoint answers `connect_status`."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            form = dict(httpx.QueryParams(request.content.decode()))
            if form["grant_type"] == "refresh_token":
                scope = " ".join(CONNECTED_ACCOUNTS_SCOPES)
                ok = httpx.Response(200, json={"access_token": "my", "scope": scope})
                return mrrt or ok
            return httpx.Response(401, json={"error": "tokenset_not_found"})
        assert request.headers["authorization"] == "Bearer my"
        if connect_status != 201:
            return httpx.Response(connect_status, json={"detail": "not enabled"})
        body = json.loads(request.content)
        assert body.get("authorization_params") == {"login_hint": "me@work.example"}
        return httpx.Response(
            201,
            json={
                "connect_uri": "https://t/connect",
                "auth_session": "s",
                "connect_params": {"ticket": "k"},
                "expires_in": 300,
            },
        )

    return handler


def vault_and_context(handler: Handler, **options: object) -> tuple[TokenVault, ConnectContext]:
    http = client(handler)
    vault = TokenVault(domain=DOMAIN, client_id="app", client_secret="s", http=http, **options)  # type: ignore[arg-type]
    return vault, ConnectContext(ConnectedAccounts(domain=DOMAIN, http=http), None, CALLBACK)


async def test_auto_connects_when_the_tenant_accepts_and_says_why() -> None:
    vault, context = vault_and_context(tenant(connect_status=201))
    with pytest.raises(LinkRequired) as caught:
        await vault.exchange(
            "rt", connection="slack", connect=context, login_hint="me@work.example"
        )
    assert caught.value.via == "connect" and caught.value.connect_request is not None
    assert "accepted a connect request for slack" in caught.value.why


async def test_auto_links_when_the_tenant_refuses_and_says_why() -> None:
    vault, context = vault_and_context(tenant(connect_status=400))
    with pytest.raises(LinkRequired) as caught:
        await vault.exchange("rt", connection="github", connect=context)
    assert caught.value.via == "link"
    assert "refused to connect github (not enabled)" in caught.value.why


async def test_without_a_connect_context_each_way_says_why() -> None:
    auto, _ = vault_and_context(tenant(connect_status=201))
    with pytest.raises(LinkRequired) as unasked:
        await auto.exchange("rt", connection="github")
    assert unasked.value.via == "link" and "no ConnectContext" in unasked.value.why
    connect, _ = vault_and_context(tenant(connect_status=201), via="connect")
    with pytest.raises(LinkRequired) as connect_only:
        await connect.exchange("rt", connection="slack")
    assert connect_only.value.via == "connect" and connect_only.value.url is None
    assert "via='connect'" in connect_only.value.why
    link, context = vault_and_context(tenant(connect_status=201), via="link")
    with pytest.raises(LinkRequired) as linked:
        await link.exchange("rt", connection="github", connect=context)
    assert linked.value.via == "link" and "via='link'" in linked.value.why


async def test_the_vaults_mrrt_step_up_passes_through() -> None:
    refusal = httpx.Response(403, json={"error": "mfa_required", "error_description": "2FA"})
    vault, context = vault_and_context(tenant(connect_status=201, mrrt=refusal))
    with pytest.raises(StepUpRequired) as caught:
        await vault.exchange("rt", connection="slack", connect=context)
    assert caught.value.ask_for == "second_factor"
    other = httpx.Response(403, json={"error": "invalid_grant"})
    vault, context = vault_and_context(tenant(connect_status=201, mrrt=other))
    with pytest.raises(TokenVaultError) as failed:
        await vault.exchange("rt", connection="slack", connect=context)
    assert failed.value.code == "invalid_grant"


async def test_mrrt_needs_a_refresh_token_subject() -> None:
    vault, context = vault_and_context(tenant(connect_status=201))
    with pytest.raises(ValueError, match="refresh token"):
        await vault.exchange(
            "at", connection="slack", connect=context, subject_token_type="access_token"
        )


# -- the Management API check ---------------------------------------------------------------


class FakeManagement:
    def __init__(self, pages: list[dict[str, object]], *, status: int = 200) -> None:
        self.pages = pages
        self.status = status
        self.tokens = 0
        self.froms: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.tokens += 1
            return httpx.Response(200, json={"access_token": f"m{self.tokens}", "expires_in": 600})
        path = request.url.raw_path.split(b"?")[0]
        assert path == b"/api/v2/users/auth0%7Cdave/connected-accounts"
        assert request.headers["authorization"] == f"Bearer m{self.tokens}"
        if self.status != 200:
            return httpx.Response(
                self.status, json={"errorCode": "insufficient_scope", "message": "no"}
            )
        start = request.url.params.get("from")
        self.froms.append(start)
        return httpx.Response(200, json=self.pages[int(start or 0)])


def check_with(fake: FakeManagement, clock: FakeClock) -> ConnectedAccountsCheck:
    return ConnectedAccountsCheck(
        domain=DOMAIN, client_id="m2m", client_secret="s", http=client(fake), clock=clock
    )


async def test_the_check_follows_pages_and_keeps_its_token() -> None:
    other = {**ACCOUNT, "id": "cac_2", "connection": "github", "scopes": ["repo"]}
    fake = FakeManagement(
        [{"connected_accounts": [ACCOUNT], "next": "1"}, {"connected_accounts": [other]}]
    )
    clock = FakeClock(start=1_000)
    async with check_with(fake, clock) as check:
        assert [a.id for a in await check.list("auth0|dave")] == ["cac_1", "cac_2"]
        assert (await check.require("auth0|dave", "slack", scopes=["chat:write"])).id == "cac_1"
        assert await check.find("auth0|dave", "github", scopes=["admin"]) is None
        with pytest.raises(LinkRequired) as short:
            await check.require("auth0|dave", "github", scopes=["admin"])
        assert short.value.granted == ("repo",) and short.value.via == "connect"
        assert fake.tokens == 1
        clock.advance(600)
        await check.list("auth0|dave")
    assert fake.tokens == 2
    assert fake.froms[:2] == [None, "1"]


async def test_the_check_reads_a_bounded_number_of_pages() -> None:
    endless = FakeManagement([{"connected_accounts": [ACCOUNT], "next": "0"}])
    async with check_with(endless, FakeClock(start=1_000)) as check:
        accounts = await check.list("auth0|dave")
    assert len(accounts) == 20


async def test_a_refused_check_is_a_management_api_error() -> None:
    async with check_with(FakeManagement([], status=403), FakeClock(start=1_000)) as check:
        with pytest.raises(ManagementApiError) as caught:
            await check.list("auth0|dave")
    assert (caught.value.code, caught.value.status_code) == ("insufficient_scope", 403)
