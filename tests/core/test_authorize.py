"""linker.core.authorize: one builder for every authorization code request."""

import pytest

from linker.core.authorize import build_authorize_url
from linker.testing import query_of


def test_a_request_carries_code_flow_pkce_state_and_nonce() -> None:
    url = build_authorize_url(
        "https://tenant.example/authorize",
        client_id="app",
        redirect_uri="https://app.example/cb",
        scope="openid profile",
        state="s1",
        nonce="n1",
        code_challenge="c1",
        extra={"connection": "github"},
    )
    assert url.startswith("https://tenant.example/authorize?")
    assert query_of(url) == {
        "client_id": "app",
        "response_type": "code",
        "redirect_uri": "https://app.example/cb",
        "scope": "openid profile",
        "connection": "github",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": "c1",
        "code_challenge_method": "S256",
    }
    assert "openid%20profile" in url  # RFC 3986 escaping, not form '+'


def test_no_nonce_is_sent_when_none_is_given_and_an_endpoint_query_is_kept() -> None:
    url = build_authorize_url(
        "https://tenant.example/authorize?tenant=x",
        client_id="app",
        redirect_uri="https://app.example/cb",
        scope="openid",
        state="s",
        code_challenge="c",
    )
    query = query_of(url)
    assert "nonce" not in query
    assert query["tenant"] == "x"


@pytest.mark.parametrize(
    "name", ["state", "nonce", "code_challenge", "code_challenge_method", "client_id", "scope"]
)
def test_an_extra_cannot_replace_a_named_parameter(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        build_authorize_url(
            "https://tenant.example/authorize",
            client_id="app",
            redirect_uri="https://app.example/cb",
            scope="openid",
            state="s",
            code_challenge="c",
            extra={name: "attacker"},
        )
