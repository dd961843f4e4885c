"""An in-process fake of the tenant for unit tests, served through `httpx.MockTransport`.

Just enough of Auth0 for the service's calls: discovery, JWKS, `/oauth/token` (code with
PKCE, client credentials) and `/api/v2/users`. Tests script faults per route with `fail`.
The dev tenant (linker.devtenant) is the faithful stand-in; this one is small and fast.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from linker.core.pkce import s256_challenge
from linker.testing import query_of

DOMAIN = "tenant.test"
ISSUER = f"https://{DOMAIN}/"
LINKER_CLIENT = "linker-client"
LINKER_SECRET = "linker-client-secret"
APP_CLIENT = "app-client"

Fault = Callable[[httpx.Request], httpx.Response]


s256 = s256_challenge


@dataclass
class FakeTenant:
    key: RSAKey
    clock: Callable[[], float]
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    extra_keys: list[RSAKey] = field(default_factory=list)
    token_scope: str = "read:users update:users"
    # Discovery's token_endpoint_auth_methods_supported; None leaves the field out.
    auth_methods: list[str] | None = field(
        default_factory=lambda: ["client_secret_basic", "client_secret_post"]
    )
    discovered_issuer: str = ISSUER
    auth_used: list[str] = field(default_factory=list)  # client auth seen at /oauth/token
    registered_auth: str | None = None  # the one method linker's client may use, when set
    userinfo: dict[str, dict[str, Any]] = field(default_factory=dict)  # access token -> claims

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
        now = int(self.clock())
        body = {"iss": ISSUER, "aud": APP_CLIENT, "iat": now, "exp": now + 3600, **claims}
        body = {k: v for k, v in body.items() if v is not None}
        signing = key or self.key
        return jwt.encode({"alg": alg, "kid": signing.kid}, body, signing, algorithms=[alg])

    def login(
        self, authorize_url: str, *, sub: str, verifier_for: str | None = None, **claims: Any
    ) -> str:
        """Complete the nested login as `sub`; returns the code the tenant would send back."""
        params = query_of(authorize_url)
        user = self.users.get(sub, {})
        code = secrets.token_urlsafe(16)
        token_claims = {
            "sub": sub,
            "aud": params["client_id"],
            "azp": params["client_id"],
            "nonce": params["nonce"],
            "auth_time": int(self.clock()),
            "email": user.get("email"),
            "email_verified": user.get("email_verified"),
            **claims,
        }
        access_token = "at-" + secrets.token_urlsafe(8)
        self.userinfo[access_token] = {
            "sub": sub,
            "email": user.get("email"),
            "email_verified": user.get("email_verified"),
        }
        self.codes[code] = {
            "challenge": params["code_challenge"],
            "redirect_uri": params["redirect_uri"],
            "client_id": params["client_id"],
            "id_token": self.id_token(**token_claims),
            "access_token": access_token,
        }
        return code

    def fail(self, route: str, *faults: Fault) -> None:
        """Answer the next calls to `route` (e.g. "POST identities") with these faults."""
        self.faults.setdefault(route, []).extend(faults)

    # -- the transport -----------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        route = self._route(request)
        self.calls[route] += 1
        queued = self.faults.get(route)
        if queued:
            return queued.pop(0)(request)
        return self._answer(route, request)

    def _route(self, request: httpx.Request) -> str:
        path = request.url.raw_path.decode().split("?")[0]
        if path.startswith("/api/v2/users/"):
            rest = path.removeprefix("/api/v2/users/").split("/")
            if len(rest) == 1:
                return f"{request.method} user"
            return f"{request.method} identities"
        return f"{request.method} {path}"

    def _answer(self, route: str, request: httpx.Request) -> httpx.Response:
        if route == "GET /.well-known/openid-configuration":
            base = f"https://{DOMAIN}"
            config: dict[str, Any] = {
                "issuer": self.discovered_issuer,
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
            return self._token(request)
        if not request.headers.get("authorization", "").startswith("Bearer mgmt-"):
            return _error(401, "Unauthorized", "Missing or invalid token")
        return self._management(route, request)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        client = self._client_auth(request, form)
        if client != (LINKER_CLIENT, LINKER_SECRET):
            return httpx.Response(401, json={"error": "invalid_client"})
        if form.get("grant_type") == "client_credentials":
            token = "mgmt-" + secrets.token_urlsafe(8)
            return httpx.Response(
                200, json={"access_token": token, "expires_in": 86400, "scope": self.token_scope}
            )
        grant = self.codes.pop(form.get("code", ""), None)
        if (
            grant is None
            or s256(form.get("code_verifier", "")) != grant["challenge"]
            or form.get("redirect_uri") != grant["redirect_uri"]
        ):
            return httpx.Response(403, json={"error": "invalid_grant"})
        return httpx.Response(
            200,
            json={
                "id_token": grant["id_token"],
                "access_token": grant["access_token"],
                "token_type": "Bearer",
                "expires_in": 86400,
            },
        )

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
