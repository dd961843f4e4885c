"""The tenant's OAuth side: discovery, signing keys, code exchange, client credentials.

Thin I/O over the `Upstream` client; every call goes through the `Retrier` and a budget.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from typing import Any

from linker.core import oidc
from linker.core.backoff import Budget
from linker.core.claims import json_object
from linker.core.decisions import tenant_text
from linker.core.errors import Code, LinkError
from linker.core.keys import KeyCache
from linker.core.origins import same_origin
from linker.settings import Settings
from linker.state.store import Store
from linker.tenant.token_share import CachedToken, TokenShare
from linker.tenant.transport import Answer, Upstream
from linker.tenant.upstream import Retrier

TOKEN_REFRESH_MARGIN = 60


def _unavailable(what: str) -> LinkError:
    return LinkError(Code.UPSTREAM_UNAVAILABLE, f"The Auth0 tenant's {what} could not be read.")


class Tenant:
    """One tenant's OAuth endpoints, as the companion client sees them."""

    def __init__(
        self,
        settings: Settings,
        http: Upstream,
        retrier: Retrier,
        *,
        clock: Callable[[], float],
        store: Store | None = None,
    ) -> None:
        """With a `store`, the Management API token is shared with every replica using it."""
        self.settings = settings
        self._http = http
        self._retrier = retrier
        self._clock = clock
        self._discovery: dict[str, Any] | None = None
        self._discovery_lock = asyncio.Lock()
        self._token: CachedToken | None = None
        self._token_lock = asyncio.Lock()
        self._share = (
            None
            if store is None
            else TokenShare(
                store,
                client_id=settings.client_id,
                client_secret=settings.client_secret.reveal(),
                clock=clock,
            )
        )
        self._auth_method: oidc.AuthMethod | None = None  # learnt from an invalid_client
        self._on_origin: set[str] = set()  # endpoints found on the tenant's origin
        self.keys = KeyCache(self._fetch_jwks, clock=clock)

    def budget(self) -> Budget:
        return Budget(self._clock() + self.settings.upstream_budget)

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        async def attempt(limit: float) -> Answer:
            return await self._http.request("GET", url, limit=limit)

        response = await self._retrier.send(attempt, self.budget())
        body = json_object(response.content)
        if response.status_code != 200 or not body:
            raise _unavailable(what)
        return body

    async def discovery(self) -> dict[str, Any]:
        """The OpenID configuration, fetched once and kept once its `issuer` checks out.

        A configuration for another issuer is never kept (OpenID Connect Discovery 4.3): the
        error names both issuers, and `/readyz` and `linker check` report it.
        """
        if self._discovery is None:
            async with self._discovery_lock:
                if self._discovery is None:
                    url = f"{self.settings.tenant_url}/.well-known/openid-configuration"
                    document = await self._get_json(url, "OpenID configuration")
                    problem = oidc.issuer_problem(document, self.settings.issuer)
                    if problem is not None:
                        raise LinkError(Code.UPSTREAM_UNAVAILABLE, f"Misconfigured: {problem}.")
                    self._discovery = document
        return self._discovery

    async def _endpoint(self, name: str) -> str:
        """An endpoint the configuration names, on the tenant's own origin: the client secret
        and the codes go there, and a configuration cannot send them anywhere else."""
        value = (await self.discovery()).get(name)
        if not isinstance(value, str):
            raise _unavailable(f"{name}")
        if value not in self._on_origin:  # checked once per value, not at every call
            if not same_origin(value, self.settings.tenant_url):
                raise _unavailable(f"{name}")
            self._on_origin.add(value)
        return value

    async def _fetch_jwks(self) -> dict[str, Any]:
        return await self._get_json(await self._endpoint("jwks_uri"), "signing keys")

    async def authorize_endpoint(self) -> str:
        return await self._endpoint("authorization_endpoint")

    async def exchange_code(self, code: str, code_verifier: str, budget: Budget) -> dict[str, Any]:
        """Trade the nested login's code for tokens; a refusal raises `invalid_secondary_token`."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": code_verifier,
            "redirect_uri": self.settings.callback_url,
        }
        response = await self._post_token(form, budget, once=True)
        body = json_object(response.content)
        if response.status_code != 200 or not isinstance(body.get("id_token"), str):
            error = tenant_text(str(body.get("error", f"HTTP {response.status_code}")))
            raise LinkError(
                Code.INVALID_SECONDARY_TOKEN,
                f"The tenant refused the sign-in code ({error}).",
            )
        return body

    async def userinfo(self, access_token: str, budget: Budget) -> dict[str, Any]:
        """The UserInfo claims for the nested login's access token (OIDC Core 5.3).

        A GET that changes nothing, so the retrier may repeat it; a refusal, or an answer that
        is not a JSON object with a `sub`, is `invalid_secondary_token`.
        """
        url = await self._endpoint("userinfo_endpoint")
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}

        async def attempt(limit: float) -> Answer:
            return await self._http.request("GET", url, headers=headers, limit=limit)

        response = await self._retrier.send(attempt, budget)
        body = json_object(response.content)
        if response.status_code != 200 or not isinstance(body.get("sub"), str):
            raise LinkError(
                Code.INVALID_SECONDARY_TOKEN,
                "The tenant's UserInfo endpoint refused the sign-in "
                f"(HTTP {response.status_code}).",
            )
        return body

    async def with_userinfo(
        self, claims: Mapping[str, Any], tokens: Mapping[str, Any], budget: Budget
    ) -> Mapping[str, Any]:
        """`claims` with the email claims the ID token lacks read from UserInfo (Core 5.4)."""
        if not oidc.lacks_email_claims(claims):
            return claims
        access_token = tokens.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            return claims  # nothing to ask UserInfo with: the email checks decide as before
        return oidc.merge_userinfo(claims, await self.userinfo(access_token, budget))

    async def management_token(self, budget: Budget) -> str:
        """A client-credentials token for the Management API, refreshed one request at a time
        in this process and, through the shared store, one replica at a time."""
        token = self._token
        if token is not None and self._clock() < token.refresh_at:
            return token.value
        async with self._token_lock:
            token = self._token
            if token is None or self._clock() >= token.refresh_at:
                token = self._token = await self._shared_or_fetched(budget)
            return token.value

    async def _shared_or_fetched(self, budget: Budget) -> CachedToken:
        share = self._share
        if share is None:
            return await self._fetch_management_token(budget)
        token = await share.read()
        if token is not None:
            return token
        async with share.refreshing() as mine:
            if not mine:  # another replica is fetching it: wait briefly, else fetch our own
                token = await share.wait()
                if token is not None:
                    return token
            token = await self._fetch_management_token(budget)
            await share.publish(token)
            return token

    async def _fetch_management_token(self, budget: Budget) -> CachedToken:
        form = {
            "grant_type": "client_credentials",
            "audience": f"{self.settings.tenant_url}/api/v2/",
        }
        response = await self._post_token(form, budget)
        body = json_object(response.content)
        value = body.get("access_token")
        if response.status_code != 200 or not isinstance(value, str):
            error = tenant_text(str(body.get("error", response.status_code)))
            raise LinkError(
                Code.MANAGEMENT_API_ERROR,
                "The companion application could not get a Management API token "
                f"({error}); check its client grant.",
            )
        lifetime = token_lifetime(body.get("expires_in"))
        return CachedToken(value, self._clock() + lifetime - TOKEN_REFRESH_MARGIN)

    async def forget_management_token(self, value: str) -> None:
        """Forget `value`, which the Management API refused, here and in the shared store."""
        if self._token is not None and self._token.value == value:
            self._token = None
        if self._share is not None:
            await self._share.forget(value)

    async def _post_token(
        self, form: dict[str, str], budget: Budget, *, once: bool = False
    ) -> Answer:
        """POST to the token endpoint, authenticated the way discovery and the client allow.

        Discovery lists what the server supports, not what this client was registered with
        (Auth0's Regular Web Apps default to Post). A 401 `invalid_client` is a refusal of the
        authentication itself, answered before any code is looked at, so the other method is
        tried once and, if it works, kept.
        """
        url = await self._endpoint("token_endpoint")
        discovery = await self.discovery()
        method = self._auth_method or oidc.token_auth_method(discovery)
        response = await self._send_token(url, form, method, budget, once=once)
        other = oidc.other_auth_method(method, discovery)
        if other is not None and _invalid_client(response):
            retried = await self._send_token(url, form, other, budget, once=once)
            if not _invalid_client(retried):
                self._auth_method = other
            return retried
        return response

    async def _send_token(
        self,
        url: str,
        form: dict[str, str],
        method: oidc.AuthMethod,
        budget: Budget,
        *,
        once: bool,
    ) -> Answer:
        fields, headers = oidc.client_auth(
            method, self.settings.client_id, self.settings.client_secret.reveal()
        )
        body = {**form, **fields}

        async def attempt(limit: float) -> Answer:
            return await self._http.request("POST", url, form=body, headers=headers, limit=limit)

        # A code can be redeemed once: a lost answer is "failed", never a resend.
        return await self._retrier.send(attempt, budget, once=once)


def _invalid_client(response: Answer) -> bool:
    return (
        response.status_code == 401
        and json_object(response.content).get("error") == "invalid_client"
    )


# A token that claims to live longer than this is kept this long (Auth0's longest is 30 days).
MAX_TOKEN_LIFETIME = 30 * 24 * 3600.0


def token_lifetime(expires_in: object) -> float:
    """`expires_in` as seconds to keep a token: a finite number within 0 and
    `MAX_TOKEN_LIFETIME` (a string of one too); anything else, 0 (the token serves once)."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float | str):
        return 0.0
    try:
        seconds = float(expires_in)
    except (ValueError, OverflowError):
        return 0.0
    return min(seconds, MAX_TOKEN_LIFETIME) if math.isfinite(seconds) and seconds > 0 else 0.0
