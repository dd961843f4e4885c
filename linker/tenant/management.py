"""The Management API calls linking needs: read a user, merge metadata, link, unlink.

Statuses and messages are Auth0's (docs/protocol.md section 2); each maps to a contract code here.
Link and unlink are not idempotent, so when an attempt's outcome is unknown the primary's
identities are read before anything is resent: if the change is there, it is done.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from linker.core.backoff import BASE_DELAY, MAX_DELAY, Budget
from linker.core.claims import json_object
from linker.core.errors import Code, LinkError
from linker.core.identities import Identity, identities_of
from linker.tenant.oauth import Tenant
from linker.tenant.transport import Answer, Upstream
from linker.tenant.upstream import OutcomeUnknown, Retrier

# Time kept back from the step's budget for the read that settles a lost answer.
SETTLE_READ_SECONDS = 2.0

_SAME = "Main identity and the new one are the same."
_UNABLE = "Unable to link with the secondary account."
_GONE = "Provided secondary account not found."
_MAIN = "Main identity cannot be removed."


def _path(*parts: str) -> str:
    return "/".join(quote(p, safe="") for p in parts)


def _failure(response: Answer, doing: str) -> LinkError:
    body = json_object(response.content)
    message = str(body.get("message", ""))
    status = response.status_code
    if status == 409 or (status == 400 and message in (_UNABLE, _GONE)):
        return LinkError(Code.IDENTITY_CONFLICT, f"The tenant refused to {doing}: {message}")
    if status == 400 and message == _SAME:
        return LinkError(Code.SAME_ACCOUNT, "Both sign-ins belong to the same account.")
    if status == 400 and message == _MAIN:
        return LinkError(Code.PRIMARY_IDENTITY, "The account's main identity cannot be unlinked.")
    if status in (401, 403):
        hint = "check the companion application's Management API grant (read:users update:users)"
        return LinkError(Code.MANAGEMENT_API_ERROR, f"Not allowed to {doing}; {hint}.")
    detail = message or f"HTTP {status}"
    return LinkError(Code.MANAGEMENT_API_ERROR, f"The tenant failed to {doing}: {detail}")


def _user(content: bytes, user_id: str) -> dict[str, Any]:
    """A 200 answer to reading `user_id`, if it is that user. Anything else (a proxy's page, a
    truncated body, another user, a list) is a fault: read as a user with no identities and no
    metadata, it would settle an unlink as done, refuse a secondary as gone, or merge against
    an empty primary."""
    try:
        user = jsonlib.loads(content)
    except (ValueError, RecursionError):
        user = None
    if (
        not isinstance(user, dict)
        or user.get("user_id") != user_id
        or not isinstance(user.get("identities"), list)
    ):
        raise LinkError(
            Code.MANAGEMENT_API_ERROR, "The tenant's answer to a user read was not the user."
        )
    return user


class ManagementApi:
    """`/api/v2/users` for one tenant, with the companion client's credentials."""

    def __init__(self, tenant: Tenant, http: Upstream, retrier: Retrier) -> None:
        self._tenant = tenant
        self._http = http
        self._retrier = retrier
        self._base = f"{tenant.settings.tenant_url}/api/v2/users/"

    async def _send(
        self,
        method: str,
        path: str,
        budget: Budget,
        *,
        json: dict[str, Any] | None = None,
        write: bool = False,
        url: str | None = None,
    ) -> Answer:
        url = url or self._base + path
        fresh_token = False
        while True:
            token = await self._tenant.management_token(budget)

            async def attempt(limit: float, token: str = token) -> Answer:
                headers = {"Authorization": f"Bearer {token}"}
                return await self._http.request(
                    method, url, json=json, headers=headers, limit=limit
                )

            response = await self._retrier.send(attempt, budget, write=write)
            # A cached token can be revoked early; one fresh token is worth one more try.
            if response.status_code == 401 and not fresh_token:
                await self._tenant.forget_management_token(token)
                fresh_token = True
                continue
            return response

    async def get_user(self, user_id: str, budget: Budget) -> dict[str, Any]:
        user = await self.find_user(user_id, budget)
        if user is None:
            raise LinkError(Code.MANAGEMENT_API_ERROR, "The tenant has no such user.")
        return user

    async def find_user(self, user_id: str, budget: Budget) -> dict[str, Any] | None:
        """The user, or None when the tenant answers 404."""
        response = await self._send("GET", _path(user_id), budget)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _failure(response, "read the user")
        return _user(response.content, user_id)

    async def users_by_email(self, email: str, budget: Budget) -> list[dict[str, Any]]:
        """`GET /api/v2/users-by-email`: the users whose email is exactly `email` (Auth0's
        search is case-sensitive: docs/protocol.md section 8)."""
        base = f"{self._tenant.settings.tenant_url}/api/v2/users-by-email"
        url = f"{base}?email={quote(email, safe='')}"
        response = await self._send("GET", "", budget, url=url)
        if response.status_code != 200:
            raise _failure(response, "find users by email")
        try:
            found = jsonlib.loads(response.content)
        except (ValueError, RecursionError):
            found = None
        if not isinstance(found, list):
            raise LinkError(Code.MANAGEMENT_API_ERROR, "The tenant's user search answered no list.")
        return [u for u in found if isinstance(u, dict)]

    async def update_metadata(self, user_id: str, body: dict[str, Any], budget: Budget) -> None:
        """PATCH `user_metadata` / `app_metadata`; the same body twice is harmless."""
        response = await self._send("PATCH", _path(user_id), budget, json=body)
        if response.status_code != 200:
            raise _failure(response, "update the user's metadata")

    async def link(self, primary_id: str, secondary: Identity, budget: Budget) -> None:
        """Link `secondary` into the primary (done once this returns)."""
        body = {"provider": secondary.provider, "user_id": secondary.user_id}
        await self._change(
            "POST",
            _path(primary_id, "identities"),
            primary_id,
            budget,
            body=body,
            done=lambda ids: secondary in ids,
            doing="link the accounts",
            ok=(201, 200),
        )

    async def unlink(self, primary_id: str, identity: Identity, budget: Budget) -> None:
        """Unlink `identity` from the primary (done once this returns)."""
        await self._change(
            "DELETE",
            _path(primary_id, "identities", identity.provider, identity.user_id),
            primary_id,
            budget,
            body=None,
            done=lambda ids: identity not in ids,
            doing="unlink the identity",
            ok=(200,),
        )

    async def _change(
        self,
        method: str,
        path: str,
        primary_id: str,
        budget: Budget,
        *,
        body: dict[str, Any] | None,
        done: Callable[[list[Identity]], bool],
        doing: str,
        ok: tuple[int, ...],
    ) -> None:
        """Send the write until it is known done: answered `ok`, or seen done by the read that
        settles a lost answer (or a refused resend). Its answer's body is not read: a 2xx
        says it was done, whatever it carries."""
        resends = 0
        while True:
            if resends and budget.remaining(self._retrier.clock()) <= SETTLE_READ_SECONDS:
                # The read said "not done", and no time is left to resend and read again.
                raise LinkError(
                    Code.UPSTREAM_UNAVAILABLE,
                    "The Auth0 tenant did not answer in time; nothing was changed. Try again.",
                )
            try:
                response = await self._send(method, path, budget, json=body, write=True)
            except OutcomeUnknown as unknown:
                # Wait as asked, but keep the time the read that settles the outcome needs.
                # The wait grows with every resend, as the tenant is evidently struggling.
                spare = budget.remaining(self._retrier.clock()) - SETTLE_READ_SECONDS
                wait = max(unknown.delay, min(MAX_DELAY, BASE_DELAY * 2**resends))
                await self._retrier.sleep(max(0.0, min(wait, spare)))
                if await self._shows(primary_id, budget, done, lost=True):
                    return
                resends += 1
                continue
            if response.status_code in ok:
                return
            failure = _failure(response, doing)
            # A refusal of a resend, or for a conflict ("the identity already exists", "not
            # found"), may be another request's doing: our lost first one, landed after the
            # read that said "not done", or another tab's commit of the same link. The primary
            # says.
            another = resends > 0 or failure.code is Code.IDENTITY_CONFLICT
            if another and await self._shows(primary_id, budget, done, lost=resends > 0):
                return
            raise failure

    async def _shows(
        self,
        primary_id: str,
        budget: Budget,
        done: Callable[[list[Identity]], bool],
        *,
        lost: bool,
    ) -> bool:
        """Whether the primary, read now, shows the change done.

        If the read fails: after a write whose answer was `lost`, whether it happened is
        unknown, and saying "nothing was changed" could be untrue: `outcome_unknown`. After a
        refusal only, the refusal stands (False).
        """
        try:
            return done(identities_of(await self.get_user(primary_id, budget)))
        except LinkError:
            if not lost:
                return False
            raise LinkError(
                Code.OUTCOME_UNKNOWN,
                "The tenant did not confirm the change in time; it will be checked and finished.",
            ) from None
