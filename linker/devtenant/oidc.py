"""Discovery, the JWKS, and `/userinfo`: what an OIDC client reads before and after a login."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from linker.devtenant.errors import OAuthError
from linker.devtenant.token_claims import check_access_token, scopes_of
from linker.devtenant.token_vault import TOKEN_VAULT_GRANT
from linker.devtenant.web import tenant_of


async def openid_configuration(request: Request) -> Response:
    tenant = tenant_of(request)
    base = tenant.base_url
    return JSONResponse(
        {
            "issuer": tenant.issuer,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/oauth/token",
            "userinfo_endpoint": base + "/userinfo",
            "jwks_uri": base + "/.well-known/jwks.json",
            "end_session_endpoint": base + "/v2/logout",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "web_message"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                TOKEN_VAULT_GRANT,
            ],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": [
                "aud",
                "auth_time",
                "email",
                "email_verified",
                "exp",
                "iat",
                "iss",
                "name",
                "nonce",
                "sid",
                "sub",
            ],
            "request_parameter_supported": False,
        }
    )


async def jwks(request: Request) -> Response:
    return JSONResponse(tenant_of(request).keys.jwks())


async def userinfo(request: Request) -> Response:
    tenant = tenant_of(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    unauthorized = OAuthError(
        401,
        "invalid_token",
        "Invalid or missing access token",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )
    if scheme.lower() != "bearer":
        raise unauthorized
    try:
        claims = check_access_token(
            tenant.keys.verify(token.strip()),
            issuer=tenant.issuer,
            audience=tenant.issuer + "userinfo",
            now=tenant.now(),
        )
    except ValueError:
        raise unauthorized from None
    user = tenant.directory.get(str(claims.get("sub")))
    if user is None:
        raise unauthorized
    scopes = scopes_of(claims)
    body: dict[str, object] = {"sub": user.user_id}
    if "email" in scopes:
        body["email"] = user.profile.email
        body["email_verified"] = user.profile.email_verified
    if "profile" in scopes:
        body["name"] = user.profile.name
    return JSONResponse(body)
