"""An in-process fake of the tenant for unit tests, served through `httpx.MockTransport`.

Just enough of Auth0 for the calls of the service and of the sample apps: discovery, JWKS,
`/userinfo`, `/oauth/token` (code with PKCE, client credentials, refresh, Token Vault's
exchange) and `/api/v2/users`. Tests script faults per route with `fail`. The dev tenant
(linker.devtenant) is the faithful stand-in; this one is small and fast.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from linker.core.decisions import CONNECTION_CLAIM
from linker.core.pkce import s256_challenge
from linker.testing import params_of, query_of

DOMAIN = "tenant.test"
LINKER_CLIENT = "linker-client"
LINKER_SECRET = "linker-client-secret"
APP_CLIENT = "app-client"

MANAGEMENT_TOKEN = "mgmt-token"
VAULT_GRANT = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"

Fault = Callable[[httpx.Request], httpx.Response]


s256 = s256_challenge


def strategy_of(connection: str) -> str:
    """A connection's strategy as Auth0 names it (the database connection's is `auth0`)."""
    return "auth0" if connection == "Username-Password-Authentication" else connection


@dataclass
class IssuedCode:
    """An authorization code: what redeeming it needs, and the tokens it is redeemed for."""

    challenge: str
    redirect_uri: str
    client_id: str
    tokens: dict[str, Any]


@dataclass
class FakeTenant:
    key: RSAKey
    clock: Callable[[], float]
    base_url: str = f"https://{DOMAIN}"
    clients: dict[str, str] = field(default_factory=lambda: {LINKER_CLIENT: LINKER_SECRET})
    app_client: str = APP_CLIENT  # the audience of ID tokens unless a test says otherwise
    id_token_claims: dict[str, Any] = field(default_factory=dict)  # in every ID token issued
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, IssuedCode] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)  # by route, e.g. "POST identities"
    requests: list[httpx.Request] = field(default_factory=list)
    issued_id_tokens: list[str] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    extra_keys: list[RSAKey] = field(default_factory=list)
    token_scope: str = "read:users update:users"
    api_audience: str | None = None  # the audience client credentials must name, when set
    # Discovery's token_endpoint_auth_methods_supported; None leaves the field out.
    auth_methods: list[str] | None = field(
        default_factory=lambda: ["client_secret_basic", "client_secret_post"]
    )
    discovered_issuer: str | None = None  # the issuer discovery names, when not this tenant
    auth_used: list[str] = field(default_factory=list)  # client auth seen at /oauth/token
    registered_auth: str | None = None  # the one method linker's client may use, when set
    userinfo: dict[str, dict[str, Any]] = field(default_factory=dict)  # access token -> claims
    refresh_claims: dict[str, Any] = field(default_factory=dict)  # in refreshed ID tokens
    vault_response: httpx.Response = field(  # Token Vault's answer to its exchange
        default_factory=lambda: httpx.Response(
            401, json={"error": "tokenset_not_found", "error_description": "no tokenset"}
        )
    )

    @property
    def issuer(self) -> str:
        return self.base_url + "/"

    # -- test helpers -------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        email: str,
        verified: bool = True,
        connection: str | None = None,
        user_metadata: dict[str, Any] | None = None,
        app_metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        provider, _, raw_id = user_id.partition("|")
        user = {
            "user_id": user_id,
            "email": email,
            "email_verified": verified,
            "identities": [
                {
                    "provider": provider,
                    "user_id": raw_id,
                    "connection": connection or provider,
                    "isSocial": provider != "auth0",
                }
            ],
            "user_metadata": user_metadata or {},
            "app_metadata": app_metadata or {},
        }
        self.users[user_id] = user
        return user

    def id_token(self, *, key: RSAKey | None = None, alg: str = "RS256", **claims: Any) -> str:
        """An ID token from this tenant; a claim given as None is left out."""
        now = int(self.clock())
        body = {
            "iss": self.issuer,
            "aud": self.app_client,
            "iat": now,
            "exp": now + 3600,
            **self.id_token_claims,
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        signing = key or self.key
        token = jwt.encode({"alg": alg, "kid": signing.kid}, body, signing, algorithms=[alg])
        self.issued_id_tokens.append(token)
        return token

    def login(
        self,
        authorize_url: str,
        *,
        sub: str,
        code: str | None = None,
        connection: str | None = None,
        **claims: Any,
    ) -> str:
        """Complete the login `authorize_url` asks for as `sub`; returns the code the tenant
        would send back (`code` if given), bound to the request's PKCE challenge and nonce.
        The ID token names the connection used, as the shim makes the tenant do: the one
        asked for, or `connection` when the browser rewrote it."""
        params = query_of(authorize_url)
        used = connection or params.get("connection", "")
        claims.setdefault(CONNECTION_CLAIM, {"name": used, "strategy": strategy_of(used)})
        user = self.users.get(sub)
        profile = {} if user is None else {k: user[k] for k in ("email", "email_verified")}
        code = code or secrets.token_urlsafe(16)
        token_claims = {
            "sub": sub,
            "aud": params["client_id"],
            "azp": params["client_id"],
            "nonce": params["nonce"],
            "auth_time": int(self.clock()),
            **profile,
            **claims,
        }
        access_token = "at-" + secrets.token_urlsafe(8)
        self.userinfo[access_token] = {"sub": sub, **profile}
        tokens = {
            "id_token": self.id_token(**token_claims),
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 86400,
        }
        if "offline_access" in params["scope"].split():
            tokens["refresh_token"] = "rt-" + code
        self.codes[code] = IssuedCode(
            params["code_challenge"], params["redirect_uri"], params["client_id"], tokens
        )
        return code

    def requests_to(self, path: str) -> list[httpx.Request]:
        """The requests made so far to `path`, oldest first."""
        return [r for r in self.requests if r.url.path == path]

    def fail(self, route: str, *faults: Fault) -> None:
        """Answer the next calls to `route` (e.g. "POST identities") with these faults."""
        self.faults.setdefault(route, []).extend(faults)

    # -- the transport -----------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        route = self.route(request)
        self.calls[route] += 1
        self.requests.append(request)
        queued = self.faults.get(route)
        if queued:
            return queued.pop(0)(request)
        return self.answer(route, request)

    def route(self, request: httpx.Request) -> str:
        """The name faults and `calls` use for a request: "GET user", "POST /oauth/token"..."""
        path = request.url.raw_path.decode().split("?")[0]
        if path == "/api/v2/users-by-email":
            return f"{request.method} users-by-email"
        if path.startswith("/api/v2/users/"):
            rest = path.removeprefix("/api/v2/users/").split("/")
            if len(rest) == 1:
                return f"{request.method} user"
            return f"{request.method} identities"
        return f"{request.method} {path}"

    def answer(self, route: str, request: httpx.Request) -> httpx.Response:
        """What the tenant answers when no fault is scripted (a fault may call it too)."""
        if route == "GET /.well-known/openid-configuration":
            base = self.base_url
            config: dict[str, Any] = {
                "issuer": self.discovered_issuer or self.issuer,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/oauth/token",
                "userinfo_endpoint": f"{base}/userinfo",
                "jwks_uri": f"{base}/.well-known/jwks.json",
            }
            if self.auth_methods is not None:
                config["token_endpoint_auth_methods_supported"] = self.auth_methods
            return httpx.Response(200, json=config)
        if route == "GET /userinfo":
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            claims = self.userinfo.get(token) if scheme == "Bearer" else None
            if claims is None:
                return httpx.Response(401, json={"error": "invalid_token"})
            return httpx.Response(200, json={k: v for k, v in claims.items() if v is not None})
        if route == "GET /.well-known/jwks.json":
            keys = KeySet([self.key, *self.extra_keys]).as_dict(private=False)
            return httpx.Response(200, json=keys)
        if route == "POST /oauth/token":
            return self.token(request)
        if request.headers.get("authorization") != f"Bearer {MANAGEMENT_TOKEN}":
            return _error(401, "Unauthorized", "Missing or invalid token")
        if route == "GET users-by-email":  # exact and case-sensitive, as Auth0's
            email = request.url.params.get("email")
            return httpx.Response(200, json=[u for u in self.users.values() if u["email"] == email])
        return self._management(route, request)

    def token(self, request: httpx.Request) -> httpx.Response:
        """`/oauth/token`, for every grant the service and the sample apps use."""
        form = params_of(request.content.decode())
        client_id, secret = self._client_auth(request, form)
        if client_id is None or secret is None or self.clients.get(client_id) != secret:
            return httpx.Response(401, json={"error": "invalid_client"})
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            if self.api_audience not in (None, form.get("audience")):
                return httpx.Response(403, json={"error": "access_denied"})
            return httpx.Response(
                200,
                json={
                    "access_token": MANAGEMENT_TOKEN,
                    "expires_in": 86400,
                    "scope": self.token_scope,
                },
            )
        if grant_type == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if (
                grant is None
                or s256(form.get("code_verifier", "")) != grant.challenge
                or form.get("redirect_uri") != grant.redirect_uri
            ):
                return httpx.Response(403, json={"error": "invalid_grant"})
            return httpx.Response(200, json=grant.tokens)
        if grant_type == "refresh_token":
            return httpx.Response(200, json={"id_token": self.id_token(**self.refresh_claims)})
        if grant_type == VAULT_GRANT:
            return self.vault_response
        return httpx.Response(400, json={"error": "unsupported_grant_type"})

    def _client_auth(
        self, request: httpx.Request, form: dict[str, str]
    ) -> tuple[str | None, str | None]:
        """The (client_id, secret) presented, by the method discovery advertises."""
        header = request.headers.get("authorization", "")
        used = "client_secret_basic" if header.startswith("Basic ") else "client_secret_post"
        if self.registered_auth not in (None, used):
            self.auth_used.append(used)
            return None, None
        if header.startswith("Basic "):
            self.auth_used.append("client_secret_basic")
            if "client_secret" in form:
                return None, None  # two methods at once: refused (RFC 6749 2.3)
            basic_id, _, basic_secret = base64.b64decode(header[6:]).decode().partition(":")
            return unquote(basic_id), unquote(basic_secret)
        self.auth_used.append("client_secret_post")
        if self.auth_methods is not None and "client_secret_post" not in self.auth_methods:
            return None, None
        return form.get("client_id"), form.get("client_secret")

    def _management(self, route: str, request: httpx.Request) -> httpx.Response:
        parts = [unquote(p) for p in request.url.raw_path.decode().split("/")[4:]]
        user = self.users.get(parts[0])
        if user is None:
            return _error(404, "Not Found", "The user does not exist.")
        if route == "GET user":
            return httpx.Response(200, json=user)
        if route == "PATCH user":
            body = json.loads(request.content)
            for kind in ("user_metadata", "app_metadata"):
                for key, value in body.get(kind, {}).items():
                    if value is None:
                        user[kind].pop(key, None)
                    else:
                        user[kind][key] = value
            return httpx.Response(200, json=user)
        if route == "POST identities":
            return self._link(user, json.loads(request.content))
        if route == "DELETE identities":
            return self._unlink(user, parts[2], parts[3])
        return httpx.Response(404)

    def _link(self, primary: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
        secondary_id = f"{body['provider']}|{body['user_id']}"
        if secondary_id == primary["user_id"]:
            return _error(400, "Bad Request", "Main identity and the new one are the same.")
        if any(f"{i['provider']}|{i['user_id']}" == secondary_id for i in primary["identities"]):
            return _error(409, "Conflict", "Specified identity already exists.")
        secondary = self.users.pop(secondary_id, None)
        if secondary is None:
            return _error(400, "Bad Request", "Provided secondary account not found.")
        primary["identities"].extend(secondary["identities"])
        return httpx.Response(201, json=primary["identities"])

    def _unlink(self, primary: dict[str, Any], provider: str, user_id: str) -> httpx.Response:
        full = f"{provider}|{user_id}"
        if full == primary["user_id"]:
            return _error(400, "Bad Request", "Main identity cannot be removed.")
        kept = [i for i in primary["identities"] if f"{i['provider']}|{i['user_id']}" != full]
        removed = [i for i in primary["identities"] if i not in kept]
        primary["identities"] = kept
        for identity in removed:
            self.add_user(full, email="", connection=identity["connection"])
        return httpx.Response(200, json=kept)


def _error(status: int, error: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"statusCode": status, "error": error, "message": message})


def status(code: int, headers: dict[str, str] | None = None) -> Fault:
    return lambda request: httpx.Response(code, headers=headers, json={"statusCode": code})


def raise_(exc: type[httpx.TransportError]) -> Fault:
    def fault(request: httpx.Request) -> httpx.Response:
        raise exc("injected", request=request)

    return fault
