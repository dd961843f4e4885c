"""A zero-latency stand-in for an Auth0 tenant: only what linker calls during a link flow.

OIDC discovery, JWKS, `/authorize` (answers at once: the load generator names the secondary
that "signs in" with `bench_login_as`), `/oauth/token` (authorization_code with PKCE, and
client_credentials for the Management API), `/userinfo`, and the Management API's
`GET`/`PATCH /api/v2/users/{id}` and `POST /api/v2/users/{id}/identities`.

Users are seeded by rule, not stored: pair `n < pairs` is a primary and a secondary (see
`seed`); only links and metadata changes are kept. Every call is counted per endpoint, and
`GET /_stats` answers the counts. `GET /_hints?first=K&count=N` signs the applications'
`id_token_hint`s for primaries K..K+N-1 ahead of a phase, so that neither the tenant nor the
load generator signs them while linker is being measured. It is not the dev tenant
(`linker dev-tenant`): that one is faithful and runs the shim in Node; this one is fast.

    python -m benchmarks.http.tenant --port 8001 --pairs 10000
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

from benchmarks.http import seed
from linker.core.decisions import CONNECTION_CLAIM

TOKEN_LIFETIME = 86_400
HINT_LIFETIME = 3_600
NO_USER = {"statusCode": 404, "message": "The user does not exist."}


@dataclass
class Grant:
    """What `/authorize` remembered for a code, checked when the code is redeemed."""

    client_id: str
    redirect_uri: str
    nonce: str
    challenge: str
    sub: str
    auth_time: int
    connection: str | None = None


@dataclass
class Directory:
    """The seeded users, and what links and PATCHes changed about them."""

    pairs: int
    linked: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)  # linked secondary -> primary
    metadata: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def _index(self, user_id: str, prefix: str) -> int | None:
        if not user_id.startswith(prefix):
            return None
        tail = user_id[len(prefix) :]
        if not tail.isdigit() or int(tail) >= self.pairs:
            return None
        return int(tail)

    def user(self, user_id: str) -> dict[str, Any] | None:
        """The user as `GET /api/v2/users/{id}` shows it; None for unknown or linked away."""
        n = self._index(user_id, seed.PRIMARY_PREFIX)
        if n is not None:
            own = _identity(seed.PRIMARY_PROVIDER, user_id, seed.PRIMARY_CONNECTION, social=False)
            base = {"user_metadata": {"theme": "dark"}, "app_metadata": {}}
            return self._profile(user_id, n, [own, *self.linked.get(user_id, [])], base)
        n = self._index(user_id, seed.SECONDARY_PREFIX)
        if n is None or user_id in self.owner:
            return None  # Auth0 deletes the secondary's own user when it is linked
        own = _identity(seed.SECONDARY_PROVIDER, user_id, seed.SECONDARY_CONNECTION, social=True)
        metadata = {"theme": "light", "github": {"login": f"s{n}"}}
        return self._profile(user_id, n, [own], {"user_metadata": metadata, "app_metadata": {}})

    def _profile(
        self, user_id: str, n: int, identities: list[dict[str, Any]], base: dict[str, Any]
    ) -> dict[str, Any]:
        changed = self.metadata.get(user_id, {})
        return {
            "user_id": user_id,
            "email": seed.email(n),
            "email_verified": True,
            "identities": identities,
            "user_metadata": {**base["user_metadata"], **changed.get("user_metadata", {})},
            "app_metadata": {**base["app_metadata"], **changed.get("app_metadata", {})},
        }

    def patch(self, user_id: str, body: dict[str, Any]) -> None:
        changed = self.metadata.setdefault(user_id, {})
        for name in ("user_metadata", "app_metadata"):
            if isinstance(body.get(name), dict):
                changed.setdefault(name, {}).update(body[name])  # top-level keys, as Auth0

    def link(self, primary: str, secondary: str) -> None:
        user = self.user(secondary)
        assert user is not None
        self.linked.setdefault(primary, []).append(user["identities"][0])
        self.owner[secondary] = primary


def _identity(provider: str, user_id: str, connection: str, *, social: bool) -> dict[str, Any]:
    return {
        "provider": provider,
        "user_id": user_id.partition("|")[2],
        "connection": connection,
        "isSocial": social,
    }


class Tenant:
    """The endpoints, the signing key, and the call counts."""

    def __init__(self, *, issuer: str, pairs: int) -> None:
        self.issuer = issuer  # "http://127.0.0.1:PORT/"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "bench-1", "use": "sig"})
        self.directory = Directory(pairs)
        self.calls: Counter[str] = Counter()
        self.grants: dict[str, Grant] = {}
        self.userinfo: dict[str, dict[str, Any]] = {}
        self.management_tokens: set[str] = set()
        self.jwks = {"keys": [self.key.as_dict(private=False)]}

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": "RS256", "typ": "JWT", "kid": "bench-1"}
        return jwt.encode(header, claims, self.key, algorithms=["RS256"])

    def discovery(self) -> dict[str, Any]:
        base = self.issuer.rstrip("/")
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }

    def hint(self, n: int, now: int) -> str:
        return self.sign(
            {
                "iss": self.issuer,
                "aud": seed.APP_CLIENT_ID,
                "sub": seed.primary_id(n),
                "iat": now,
                "exp": now + HINT_LIFETIME,
                "email": seed.email(n),
                "email_verified": True,
            }
        )


def tenant_of(request: web.Request) -> Tenant:
    tenant: Tenant = request.app["tenant"]
    return tenant


def _error(status: int, error: str, description: str = "") -> web.Response:
    body = {"error": error, "error_description": description}
    return web.json_response(body, status=status)


async def discovery(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    tenant.calls["discovery"] += 1
    return web.json_response(tenant.discovery())


async def jwks(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    tenant.calls["jwks"] += 1
    return web.json_response(tenant.jwks)


async def authorize(request: web.Request) -> web.Response:
    """Sign in at once as `bench_login_as`: the load generator is the user at the login page."""
    tenant, query = tenant_of(request), request.query
    tenant.calls["authorize"] += 1
    needed = ("client_id", "redirect_uri", "state", "nonce", "code_challenge", seed.LOGIN_AS_PARAM)
    if any(not query.get(name) for name in needed) or query.get("response_type") != "code":
        return _error(400, "invalid_request", "a parameter is missing")
    if query.get("code_challenge_method") != "S256":
        return _error(400, "invalid_request", "PKCE S256 only")
    sub = query[seed.LOGIN_AS_PARAM]
    if tenant.directory.user(sub) is None:
        return _error(400, "access_denied", "no such user")
    code = secrets.token_urlsafe(24)
    tenant.grants[code] = Grant(
        client_id=query["client_id"],
        redirect_uri=query["redirect_uri"],
        nonce=query["nonce"],
        challenge=query["code_challenge"],
        sub=sub,
        auth_time=int(time.time()),
        connection=query.get("connection"),
    )
    target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
    raise web.HTTPFound(target)


def _client(request: web.Request, form: dict[str, str]) -> tuple[str, str]:
    """The client's id and secret, from HTTP Basic or from the form (client_secret_post)."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Basic "):
        decoded = base64.b64decode(auth[6:]).decode()
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


async def token(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    grant_type = form.get("grant_type", "")
    tenant.calls[f"token:{grant_type or 'none'}"] += 1
    client_id, secret = _client(request, form)
    known = client_id == seed.LINKER_CLIENT_ID
    if not known or not hmac.compare_digest(secret, seed.LINKER_CLIENT_SECRET):
        return _error(401, "invalid_client", "client authentication failed")
    if grant_type == "client_credentials":
        if form.get("audience") != f"{tenant.issuer}api/v2/":
            return _error(403, "access_denied", "no grant for that audience")
        value = secrets.token_urlsafe(32)
        tenant.management_tokens.add(value)
        return web.json_response(
            {"access_token": value, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME}
        )
    if grant_type == "authorization_code":
        return _redeem(tenant, form, client_id)
    return _error(400, "unsupported_grant_type")


def _redeem(tenant: Tenant, form: dict[str, str], client_id: str) -> web.Response:
    grant = tenant.grants.pop(form.get("code", ""), None)
    if grant is None or grant.client_id != client_id:
        return _error(403, "invalid_grant", "unknown or used code")
    if form.get("redirect_uri") != grant.redirect_uri:
        return _error(403, "invalid_grant", "redirect_uri differs")
    verifier = form.get("code_verifier", "").encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
    if not hmac.compare_digest(digest, grant.challenge):
        return _error(403, "invalid_grant", "PKCE verification failed")
    user = tenant.directory.user(grant.sub)
    assert user is not None
    now = int(time.time())
    claims = {
        "iss": tenant.issuer,
        "aud": client_id,
        "sub": grant.sub,
        "iat": now,
        "exp": now + 3600,
        "auth_time": grant.auth_time,
        "nonce": grant.nonce,
        "email": user["email"],
        "email_verified": True,
    }
    if client_id == seed.LINKER_CLIENT_ID and grant.connection:
        # What linker's Action adds to its own client's ID token: the connection used.
        claims[CONNECTION_CLAIM] = {"name": grant.connection, "strategy": grant.connection}
    access_token = secrets.token_urlsafe(32)
    tenant.userinfo[access_token] = {k: claims[k] for k in ("sub", "email", "email_verified")}
    return web.json_response(
        {
            "access_token": access_token,
            "id_token": tenant.sign(claims),
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
        }
    )


async def userinfo(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    tenant.calls["userinfo"] += 1
    claims = tenant.userinfo.get(request.headers.get("Authorization", "")[7:])
    if claims is None:
        return _error(401, "invalid_token")
    return web.json_response(claims)


def _management(request: web.Request, name: str) -> Tenant:
    """Count the call; raise 401 unless it carries a Management API token we issued."""
    tenant = tenant_of(request)
    tenant.calls[name] += 1
    token = request.headers.get("Authorization", "")[7:]
    if token not in tenant.management_tokens:
        raise web.HTTPUnauthorized(
            text=json.dumps({"statusCode": 401, "message": "Invalid token"}),
            content_type="application/json",
        )
    return tenant


async def get_user(request: web.Request) -> web.Response:
    tenant = _management(request, "users:get")
    user = tenant.directory.user(request.match_info["user_id"])
    if user is None:
        return web.json_response(NO_USER, status=404)
    return web.json_response(user)


async def patch_user(request: web.Request) -> web.Response:
    tenant = _management(request, "users:patch")
    user_id = request.match_info["user_id"]
    body = await request.json()
    if tenant.directory.user(user_id) is None or not isinstance(body, dict):
        return web.json_response(NO_USER, status=404)
    tenant.directory.patch(user_id, body)
    return web.json_response(tenant.directory.user(user_id))


async def link_identity(request: web.Request) -> web.Response:
    tenant = _management(request, "identities:post")
    primary = request.match_info["user_id"]
    body = await request.json()
    secondary = f"{body.get('provider')}|{body.get('user_id')}"
    if secondary == primary:
        message = "Main identity and the new one are the same."
        return web.json_response({"statusCode": 400, "message": message}, status=400)
    user = tenant.directory.user(primary)
    if user is None or tenant.directory.user(secondary) is None:
        message = "Provided secondary account not found."
        return web.json_response({"statusCode": 400, "message": message}, status=400)
    tenant.directory.link(primary, secondary)
    linked = tenant.directory.user(primary)
    assert linked is not None
    return web.json_response(linked["identities"], status=201)


async def stats(request: web.Request) -> web.Response:
    return web.json_response(dict(tenant_of(request).calls))


async def hints(request: web.Request) -> web.Response:
    tenant = tenant_of(request)
    first, count = int(request.query["first"]), int(request.query["count"])
    now = int(time.time())
    return web.json_response([tenant.hint(n, now) for n in range(first, first + count)])


def make_app(tenant: Tenant) -> web.Application:
    app = web.Application()
    app["tenant"] = tenant
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_get("/.well-known/jwks.json", jwks)
    app.router.add_get("/authorize", authorize)
    app.router.add_post("/oauth/token", token)
    app.router.add_get("/userinfo", userinfo)
    app.router.add_get("/api/v2/users/{user_id}", get_user)
    app.router.add_patch("/api/v2/users/{user_id}", patch_user)
    app.router.add_post("/api/v2/users/{user_id}/identities", link_identity)
    app.router.add_get("/_stats", stats)
    app.router.add_get("/_hints", hints)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http.tenant")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pairs", type=int, default=100_000, help="seeded user pairs")
    args = parser.parse_args(argv)
    tenant = Tenant(issuer=f"http://127.0.0.1:{args.port}/", pairs=args.pairs)
    web.run_app(make_app(tenant), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
