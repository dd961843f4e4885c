"""linker.core.oidc: the pure parts of linker's OpenID Connect client."""

from __future__ import annotations

import base64

from linker.core.oidc import client_auth


def test_basic_credentials_are_form_encoded() -> None:
    """RFC 6749 2.3.1: id and secret are form-urlencoded before Base64."""
    fields, headers = client_auth("client_secret_basic", "a:b", "s p/é")
    assert fields == {}
    scheme, _, value = headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(value).decode() == "a%3Ab:s%20p%2F%C3%A9"
