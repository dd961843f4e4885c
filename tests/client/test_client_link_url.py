"""build_link_url: the /authorize request an app sends to start a link or an unlink."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

import pytest

from linker.client import LinkSettings, build_link_url, s256_challenge
from linker.testing import query_of

BASE = {
    "domain": "tenant.example.com",
    "client_id": "app-1",
    "redirect_uri": "https://app.example.com/callback",
    "id_token_hint": "header.payload.signature",
}


def test_link_url_carries_every_parameter_of_the_contract() -> None:
    request = build_link_url(**BASE, connection="github", connection_scope=["repo", "read:user"])

    parts = urlsplit(request.url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "tenant.example.com", "/authorize")
    assert query_of(request.url) == {
        "client_id": "app-1",
        "response_type": "code",
        "redirect_uri": "https://app.example.com/callback",
        "scope": "openid profile email link_account",
        "requested_connection": "github",
        "requested_connection_scope": "repo read:user",
        "id_token_hint": "header.payload.signature",
        "state": request.state,
        "nonce": request.nonce,
        "code_challenge": request.code_challenge,
        "code_challenge_method": "S256",
    }
    assert (request.action, request.connection, request.redirect_uri) == (
        "link",
        "github",
        "https://app.example.com/callback",
    )


def test_unlink_asks_for_unlink_account_and_may_name_the_identity() -> None:
    request = build_link_url(
        **BASE,
        connection="github",
        action="unlink",
        requested_identity="github|12|34",
        scheme="http",
    )

    assert request.url.startswith("http://tenant.example.com/authorize?")
    params = query_of(request.url)
    assert params["scope"] == "openid profile email unlink_account"
    assert params["requested_identity"] == "github|12|34"
    assert "requested_connection_scope" not in params


def test_connection_scope_as_a_string_and_a_custom_base_scope() -> None:
    request = build_link_url(
        **BASE,
        connection="google-oauth2",
        connection_scope="https://www.googleapis.com/auth/calendar.readonly",
        scope="openid profile email offline_access",
    )

    params = query_of(request.url)
    assert params["scope"] == "openid profile email offline_access link_account"
    assert params["requested_connection_scope"] == (
        "https://www.googleapis.com/auth/calendar.readonly"
    )


def test_spaces_are_percent_encoded_not_plus() -> None:
    request = build_link_url(**BASE, connection="github")
    assert "scope=openid%20profile%20email%20link_account" in request.url


def test_pkce_challenge_is_s256_of_the_verifier() -> None:
    request = build_link_url(**BASE, connection="github")

    digest = hashlib.sha256(request.code_verifier.encode()).digest()
    assert request.code_challenge == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert 43 <= len(request.code_verifier) <= 128


def test_s256_challenge_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_state_nonce_and_verifier_are_fresh_256_bit_values() -> None:
    first = build_link_url(**BASE, connection="github")
    second = build_link_url(**BASE, connection="github")

    values = [first.state, first.nonce, first.code_verifier]
    values += [second.state, second.nonce, second.code_verifier]
    assert len(set(values)) == 6
    for value in values:
        # token_urlsafe(32): 32 random bytes are 43 base64url characters.
        assert len(base64.urlsafe_b64decode(value + "=")) >= 32


def test_repr_hides_the_hint_and_the_secrets_of_the_attempt() -> None:
    request = build_link_url(**BASE, connection="github")
    text = repr(request)
    for secret in ("header.payload.signature", request.state, request.nonce, request.code_verifier):
        assert secret not in text


def test_link_settings_build_the_same_request() -> None:
    settings = LinkSettings(
        domain="127.0.0.1:8700",
        client_id="demo-app",
        redirect_uri="http://localhost:8702/callback",
        scheme="http",
    )
    request = settings.link_request(connection="windowslive", id_token_hint="hint")

    assert request.url.startswith("http://127.0.0.1:8700/authorize?")
    params = query_of(request.url)
    assert params["client_id"] == "demo-app"
    assert params["requested_connection"] == "windowslive"
    assert params["id_token_hint"] == "hint"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"action": "merge"}, "action must be"),
        ({"scheme": "ftp"}, "scheme must be"),
        ({"domain": "https://tenant.example.com"}, "domain"),
        ({"domain": "tenant.example.com/path"}, "domain"),
        ({"domain": "evil.example@tenant.example.com"}, "domain"),
        ({"redirect_uri": "/callback"}, "redirect_uri"),
        ({"connection": ""}, "connection is required"),
        ({"id_token_hint": ""}, "id_token_hint is required"),
        ({"requested_identity": "github|1"}, "only for action='unlink'"),
        ({"action": "unlink", "requested_identity": "github"}, "provider|user_id"),
        ({"scope": "openid unlink_account"}, "must not name"),
    ],
)
def test_arguments_the_tenant_would_refuse_raise_value_error(
    changes: dict[str, str], message: str
) -> None:
    arguments = {**BASE, "connection": "github", **changes}
    with pytest.raises(ValueError, match=message):
        build_link_url(**arguments)
