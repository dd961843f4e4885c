"""TokenVault.exchange against a fake tenant (httpx.MockTransport)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from linker.client import (
    FederatedToken,
    LinkContext,
    LinkRequired,
    LinkSettings,
    TokenVault,
    TokenVaultError,
)
from linker.testing import params_of, query_of

REFRESH_TOKEN = "v1.refresh-token-of-alice"
Handler = Callable[[httpx.Request], httpx.Response]


def form_of(request: httpx.Request) -> dict[str, str]:
    return params_of(request.content.decode())


def vault_with(handler: Handler, scheme: str = "https") -> TokenVault:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return TokenVault(
        domain="tenant.example.com",
        client_id="app-1",
        client_secret="app-secret",
        http=http,
        scheme=scheme,
    )


def error(status: int, code: str, description: str = "") -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"error": code, "error_description": description})

    return handler


async def test_exchange_posts_the_federated_connection_form_and_returns_the_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "access_token": "ya29.google",
                "expires_in": 3599,
                "scope": "https://www.googleapis.com/auth/calendar.readonly openid",
                "token_type": "Bearer",
                "issued_token_type": "http://auth0.com/oauth/token-type/federated-connection-access-token",
            },
        )

    vault = vault_with(handler)
    token = await vault.exchange(
        REFRESH_TOKEN,
        connection="google-oauth2",
        scopes=["https://www.googleapis.com/auth/calendar.readonly", "openid"],
    )

    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == "https://tenant.example.com/oauth/token"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form_of(request) == {
        "grant_type": (
            "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
        ),
        "client_id": "app-1",
        "client_secret": "app-secret",
        "subject_token_type": "urn:ietf:params:oauth:token-type:refresh_token",
        "subject_token": REFRESH_TOKEN,
        "requested_token_type": (
            "http://auth0.com/oauth/token-type/federated-connection-access-token"
        ),
        "connection": "google-oauth2",
    }  # no `scope`: Token Vault has no such parameter
    assert token == FederatedToken(
        access_token="ya29.google",
        expires_in=3599,
        scope="https://www.googleapis.com/auth/calendar.readonly openid",
        issued_token_type="http://auth0.com/oauth/token-type/federated-connection-access-token",
    )
    assert token.scopes == ("https://www.googleapis.com/auth/calendar.readonly", "openid")
    assert "ya29.google" not in repr(token)


async def test_access_token_subject_and_login_hint_over_http() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": "gho_x", "expires_in": 60, "scope": ""})

    vault = vault_with(handler, scheme="http")
    await vault.exchange(
        "access-token", connection="github", subject_token_type="access_token", login_hint="alice"
    )

    [request] = seen
    assert str(request.url) == "http://tenant.example.com/oauth/token"
    form = form_of(request)
    assert form["subject_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert form["login_hint"] == "alice"
    assert "scope" not in form


async def test_unknown_subject_token_type_is_refused_before_any_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    vault = vault_with(handler)
    with pytest.raises(ValueError, match="subject_token_type"):
        await vault.exchange(REFRESH_TOKEN, connection="github", subject_token_type="id_token")


@pytest.mark.parametrize("status", [400, 401])
@pytest.mark.parametrize(
    "code", ["tokenset_not_found", "federated_connection_refresh_token_not_found"]
)
async def test_no_tokenset_raises_link_required(status: int, code: str) -> None:
    vault = vault_with(error(status, code, "no tokens for google-oauth2"))

    with pytest.raises(LinkRequired) as caught:
        await vault.exchange(REFRESH_TOKEN, connection="google-oauth2", scopes="a b")

    assert caught.value.connection == "google-oauth2"
    assert caught.value.scopes == ("a", "b")
    assert caught.value.link_url is None
    assert caught.value.link_request is None
    assert caught.value.code == "link_required"


async def test_not_found_on_another_status_is_a_token_vault_error() -> None:
    vault = vault_with(error(403, "tokenset_not_found"))
    with pytest.raises(TokenVaultError) as caught:
        await vault.exchange(REFRESH_TOKEN, connection="github")
    assert not isinstance(caught.value, LinkRequired)
    assert (caught.value.code, caught.value.status_code) == ("tokenset_not_found", 403)


async def test_link_context_makes_link_required_carry_a_link_request() -> None:
    vault = vault_with(error(401, "tokenset_not_found"))
    settings = LinkSettings(
        domain="tenant.example.com",
        client_id="app-1",
        redirect_uri="https://app.example.com/callback",
    )

    with pytest.raises(LinkRequired) as caught:
        await vault.exchange(
            REFRESH_TOKEN,
            connection="google-oauth2",
            scopes=["https://www.googleapis.com/auth/calendar.readonly"],
            link=LinkContext(settings, id_token_hint="the-id-token"),
        )

    needed = caught.value
    assert needed.link_request is not None
    assert needed.link_url == needed.link_request.url
    params = query_of(needed.link_url)
    assert params["requested_connection"] == "google-oauth2"
    assert params["requested_connection_scope"] == (
        "https://www.googleapis.com/auth/calendar.readonly"
    )
    assert params["id_token_hint"] == "the-id-token"
    assert params["state"] == needed.link_request.state


async def test_other_errors_carry_the_upstream_code_and_description() -> None:
    vault = vault_with(error(403, "unauthorized_client", "Token Vault is not enabled"))

    with pytest.raises(TokenVaultError) as caught:
        await vault.exchange(REFRESH_TOKEN, connection="github")

    assert caught.value.code == "unauthorized_client"
    assert caught.value.description == "Token Vault is not enabled"
    assert caught.value.status_code == 403
    assert str(caught.value) == "unauthorized_client: Token Vault is not enabled"


async def test_a_description_quoting_the_subject_token_is_redacted() -> None:
    vault = vault_with(error(400, "invalid_grant", f"Unknown refresh token {REFRESH_TOKEN}"))

    with pytest.raises(TokenVaultError) as caught:
        await vault.exchange(REFRESH_TOKEN, connection="github")

    assert caught.value.code == "invalid_grant"
    assert REFRESH_TOKEN not in str(caught.value)
    assert REFRESH_TOKEN not in caught.value.description
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(502, text="<html>Bad gateway</html>"),
        httpx.Response(500, json=["not", "an", "object"]),
        httpx.Response(200, json={"expires_in": 60}),
        httpx.Response(200, json={"access_token": "x", "expires_in": "soon"}),
        httpx.Response(200, text="not json"),
    ],
)
async def test_answers_that_are_not_oauth_are_invalid_response(response: httpx.Response) -> None:
    vault = vault_with(lambda request: response)
    with pytest.raises(TokenVaultError) as caught:
        await vault.exchange(REFRESH_TOKEN, connection="github")
    assert caught.value.code == "invalid_response"
    assert caught.value.status_code == response.status_code


async def test_network_failure_is_upstream_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    vault = vault_with(handler)
    with pytest.raises(TokenVaultError) as caught:
        await vault.exchange(REFRESH_TOKEN, connection="github")
    assert caught.value.code == "upstream_unavailable"
    assert caught.value.status_code is None


async def test_a_shared_client_stays_open_and_an_own_client_is_closed() -> None:
    shared = httpx.AsyncClient(transport=httpx.MockTransport(error(500, "server_error")))
    async with TokenVault(domain="t.example", client_id="c", client_secret="s", http=shared):
        pass
    assert not shared.is_closed
    await shared.aclose()

    own = TokenVault(domain="t.example", client_id="c", client_secret="s")
    await own.aclose()
    assert own._http.is_closed


def test_repr_does_not_show_the_client_secret() -> None:
    vault = TokenVault(domain="t.example", client_id="c", client_secret="very-secret")
    assert "very-secret" not in repr(vault)


# -- today's Token Vault: granted scopes, and which way the user goes ----------------------


def granted(scope: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "t", "expires_in": 60, "scope": scope})

    return handler


async def test_a_grant_that_falls_short_raises_link_required_with_what_was_granted() -> None:
    vault = vault_with(granted("openid email"))
    with pytest.raises(LinkRequired) as caught:
        await vault.exchange(REFRESH_TOKEN, connection="google-oauth2", scopes=["calendar"])
    assert caught.value.scopes == ("calendar",)
    assert caught.value.granted == ("openid", "email")
    assert (caught.value.reason, caught.value.via) == ("insufficient_scope", "link")
    # Enough granted, or nothing asked: the token.
    assert (await vault.exchange(REFRESH_TOKEN, connection="google-oauth2")).scope == "openid email"
    token = await vault.exchange(REFRESH_TOKEN, connection="google-oauth2", scopes="email")
    assert token.scopes == ("openid", "email")


@pytest.mark.parametrize(
    "code", ["tokenset_not_found", "federated_connection_refresh_token_not_found"]
)
async def test_both_not_found_codes_are_not_found(code: str) -> None:
    with pytest.raises(LinkRequired) as caught:
        await vault_with(error(401, code)).exchange(REFRESH_TOKEN, connection="github")
    assert (caught.value.reason, caught.value.granted) == ("not_found", None)


def test_via_is_checked() -> None:
    with pytest.raises(ValueError, match="via"):
        TokenVault(domain="t.example.com", client_id="a", client_secret="s", via="teleport")  # type: ignore[arg-type]
    vault = TokenVault(
        domain="t.example.com", client_id="a", client_secret="s", via={"slack": "connect"}
    )
    assert (vault.via("slack"), vault.via("github")) == ("connect", "auto")


async def test_via_connect_without_a_context_says_so_and_builds_no_link() -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(error(401, "tokenset_not_found")))
    vault = TokenVault(
        domain="tenant.example.com", client_id="a", client_secret="s", http=http, via="connect"
    )
    settings = LinkSettings(
        domain="tenant.example.com", client_id="app", redirect_uri="https://app.example/cb"
    )
    with pytest.raises(LinkRequired) as caught:
        await vault.exchange(
            REFRESH_TOKEN, connection="slack", link=LinkContext(settings, "id-token")
        )
    assert caught.value.via == "connect"
    assert caught.value.link_url is None and caught.value.url is None
