"""A fake tenant for the sample app's unit tests: just the endpoints the app calls.

It signs ID tokens with its own RS256 key, remembers the PKCE challenge of every code it
issues, and answers Token Vault and the Management API from plain attributes a test sets.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

from linker.testing import FakeClock, query_of

TENANT_URL = "http://127.0.0.1:8700"
CLIENT_SECRET = "demo-app-secret"
ALICE = "google-oauth2|alice"
KEY = RSAKey.generate_key(2048, parameters={"kid": "test-key"})


@dataclass
class IssuedCode:
    challenge: str
    redirect_uri: str
    tokens: dict[str, Any]


@dataclass
class FakeTenant:
    """Answers what the sample app asks; `requests` records every call."""

    clock: FakeClock
    codes: dict[str, IssuedCode] = field(default_factory=dict)
    identities: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    vault_response: httpx.Response = field(
        default_factory=lambda: httpx.Response(
            401, json={"error": "tokenset_not_found", "error_description": "no tokenset"}
        )
    )
    refresh_claims: dict[str, Any] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    issued_id_tokens: list[str] = field(default_factory=list)

    def id_token(self, **claims: Any) -> str:
        base = {
            "iss": f"{TENANT_URL}/",
            "aud": "demo-app",
            "sub": ALICE,
            "iat": int(self.clock.now),
            "exp": int(self.clock.now) + 3600,
            "name": "Alice Liddell",
            "email": "alice@example.com",
        }
        header = {"alg": "RS256", "kid": "test-key"}
        token = jwt.encode(header, {**base, **claims}, KEY, algorithms=["RS256"])
        self.issued_id_tokens.append(token)
        return token

    def issue_code(self, authorize_url: str, code: str, **claims: Any) -> str:
        """What the tenant does at /authorize: a code bound to the request's PKCE and nonce."""
        params = query_of(authorize_url)
        tokens = {
            "id_token": self.id_token(nonce=params["nonce"], **claims),
            "access_token": "at-" + code,
            "token_type": "Bearer",
        }
        if "offline_access" in params["scope"].split():
            tokens["refresh_token"] = "rt-" + code
        self.codes[code] = IssuedCode(params["code_challenge"], params["redirect_uri"], tokens)
        return code

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/.well-known/jwks.json":
            return httpx.Response(200, json={"keys": [KEY.as_dict(private=False)]})
        if path == "/oauth/token":
            return self._token(parse_qs(request.content.decode()))
        if path.startswith("/api/v2/users/"):
            if request.headers.get("authorization") != "Bearer mgmt-token":
                return httpx.Response(401, json={"error": "invalid_token"})
            user_id = unquote(path.removeprefix("/api/v2/users/"))
            if user_id not in self.identities:
                return httpx.Response(500, json={"error": "server_error"})
            return httpx.Response(
                200, json={"user_id": user_id, "identities": self.identities[user_id]}
            )
        return httpx.Response(404)

    def _token(self, raw: dict[str, list[str]]) -> httpx.Response:
        form = {name: values[0] for name, values in raw.items()}
        if form.get("client_id") != "demo-app" or form.get("client_secret") != CLIENT_SECRET:
            return httpx.Response(401, json={"error": "access_denied"})
        grant = form["grant_type"]
        if grant == "authorization_code":
            issued = self.codes.pop(form["code"], None)
            verifier = form.get("code_verifier", "").encode()
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if (
                issued is None
                or challenge.decode() != issued.challenge
                or form.get("redirect_uri") != issued.redirect_uri
            ):
                return httpx.Response(403, json={"error": "invalid_grant"})
            return httpx.Response(200, json=issued.tokens)
        if grant == "refresh_token":
            return httpx.Response(200, json={"id_token": self.id_token(**self.refresh_claims)})
        if grant == "client_credentials":
            assert form["audience"] == f"{TENANT_URL}/api/v2/"
            return httpx.Response(200, json={"access_token": "mgmt-token", "expires_in": 86400})
        if grant.endswith("federated-connection-access-token"):
            return self.vault_response
        return httpx.Response(400, json={"error": "unsupported_grant_type"})


@dataclass
class Demo:
    """The sample app as a browser sees it, and the fake tenant behind it."""

    tenant: FakeTenant
    browser: httpx.AsyncClient
    clock: FakeClock

    async def sign_in(self, **claims: object) -> None:
        """The whole sign-in: /login, the tenant issues a code, /callback, the profile."""
        login = await self.browser.get("/login")
        page = await self.come_back(login.headers["location"], "login-code", **claims)
        assert ">Sign out</button>" in page.text

    async def csrf(self) -> str:
        page = await self.browser.get("/")
        return page.text.split('name="csrf" value="')[1].split('"')[0]

    async def press(self, path: str, **fields: str) -> httpx.Response:
        """Submit one of the profile page's forms, with the page's CSRF token."""
        return await self.browser.post(path, data={"csrf": await self.csrf(), **fields})

    async def come_back(self, authorize_url: str, code: str, **claims: object) -> httpx.Response:
        """The tenant signs the user in for `authorize_url` and redirects; the page after."""
        self.tenant.issue_code(authorize_url, code, **claims)
        state = query_of(authorize_url)["state"]
        back = await self.browser.get("/callback", params={"code": code, "state": state})
        assert back.status_code == 303, back.text
        return await self.browser.get(back.headers["location"])
