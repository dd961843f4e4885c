"""The two steps of a linking attempt, with their I/O: `/link/start` and `/link/callback`.

Decisions come from `flow`; this module fetches keys, stores transactions, talks to the tenant
and says how the attempt ends. It knows nothing of HTTP responses: `app.py` renders outcomes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from linker import flow
from linker.audit import Audit, AuditRecord
from linker.client.pkce import random_token, s256_challenge
from linker.errors import Code, LinkError
from linker.idtokens import key_id
from linker.management import ManagementApi, identities_of
from linker.merge import metadata_patch, revert_patch
from linker.observability import Metrics, log_event
from linker.retry import Budget
from linker.settings import Settings
from linker.store import StoreUnavailable, TransactionStore
from linker.tenant import Tenant
from linker.tokens import Identity, Result, StartRequest, decode_start_token, encode_result_token
from linker.transaction import Transaction


@dataclass(frozen=True)
class DeadEnd:
    """Nothing trustworthy to resume: show an error page."""

    error: LinkError
    status: int = 400


@dataclass(frozen=True)
class NestedLogin:
    """Send the browser to the tenant's `/authorize`, bound by a cookie to the transaction."""

    url: str
    txn_id: str


@dataclass(frozen=True)
class Resume:
    """Hand the result back to the Action at `/continue`."""

    continue_url: str
    state: str
    session_token: str
    txn_id: str | None = None


Outcome = DeadEnd | NestedLogin | Resume


class LinkService:
    """Runs linking attempts for one tenant."""

    def __init__(
        self,
        settings: Settings,
        *,
        tenant: Tenant,
        management: ManagementApi,
        store: TransactionStore,
        audit: Audit,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.tenant = tenant
        self.management = management
        self.store = store
        self.audit = audit
        self.metrics = metrics
        self.clock = clock

    # -- /link/start ---------------------------------------------------------------------

    async def start(self, session_token: str, outer_state: str, ip: str | None) -> Outcome:
        began = time.perf_counter()
        try:
            req = decode_start_token(
                session_token,
                secrets=self.settings.action_secrets,
                domain=self.settings.auth0_domain,
                now=self.clock(),
            )
            if not outer_state:
                raise LinkError(Code.INVALID_REQUEST, "The request carries no state to resume.")
        except LinkError as error:
            self._dead_end("start", began, error)
            return DeadEnd(error)
        record = AuditRecord(
            action=req.action,
            client_id=req.client_id,
            primary=req.sub,
            connection=req.requested_connection,
            ip=ip,
        )
        outcome: Outcome
        try:
            outcome = await self._start(req, outer_state, ip)
        except LinkError as error:
            record.status, record.code = error.status, error.code.value
            outcome = self._resume(Result.from_error(error), req.sub, outer_state)
        else:
            record.status = "redirect" if isinstance(outcome, NestedLogin) else "already_linked"
        if not isinstance(outcome, NestedLogin):  # the attempt ends here: audit it
            self.audit.write(record, when=self.clock())
        self._finish("start", began, record, start_jti=req.jti)
        return outcome

    async def _start(self, req: StartRequest, outer_state: str, ip: str | None) -> Outcome:
        settings = self.settings
        flow.check_client_and_request(req, settings)
        hint = flow.require_hint(req)
        claims = flow.verify_hint_signature(hint, await self.tenant.keys.keys_for(key_id(hint)))
        flow.check_hint(claims, req, settings, now=self.clock())
        flow.check_policies(req, settings)
        flow.check_ip(req.ip, ip, settings)
        decision = flow.plan(req)
        if isinstance(decision, flow.Finished):
            result = Result(status=decision.status, identity=decision.identity)
            return self._resume(result, req.sub, outer_state)
        verifier = random_token()
        now = self.clock()
        txn = Transaction(
            id=random_token(),
            action=req.action,
            primary_user_id=req.sub,
            primary_email=req.email,
            client_id=req.client_id,
            connection=decision.connection,
            connection_scope=req.requested_connection_scope if req.action == "link" else None,
            outer_state=outer_state,
            nonce=random_token(),
            code_verifier=verifier,
            ip=req.ip or ip,
            created_at=now,
            expires_at=now + settings.txn_ttl,
            target=decision.target,
            existing=decision.existing,
            start_jti=req.jti,
        )
        endpoint = await self.tenant.authorize_endpoint()
        try:
            await self.store.put(txn, settings.txn_ttl)
        except StoreUnavailable:
            raise _store_down() from None
        challenge = s256_challenge(verifier)
        url = flow.authorize_url(endpoint, txn, settings=settings, challenge=challenge)
        return NestedLogin(url=url, txn_id=txn.id)

    # -- /link/callback ------------------------------------------------------------------

    async def callback(
        self, params: Mapping[str, str], *, cookie_ok: Callable[[str], bool], ip: str | None
    ) -> Outcome:
        began = time.perf_counter()
        state = params.get("state", "")
        try:
            taken = await self.store.take(state) if state else None
        except StoreUnavailable:
            error = _store_down()
            self._dead_end("callback", began, error)
            return DeadEnd(error, status=503)
        try:
            txn = flow.check_transaction(
                taken,
                cookie_ok=bool(state) and cookie_ok(state),
                ip=ip,
                settings=self.settings,
                now=self.clock(),
            )
        except LinkError as error:
            self._dead_end("callback", began, error)
            return DeadEnd(error)
        record = AuditRecord(
            action=txn.action,
            client_id=txn.client_id,
            primary=txn.primary_user_id,
            connection=txn.connection,
            ip=ip,
        )
        try:
            result = await self._complete(txn, params, record)
        except LinkError as error:
            result = Result.from_error(error)
        record.status, record.code = result.status, result.error
        self.audit.write(record, when=self.clock())
        self._finish("callback", began, record)
        return self._resume(result, txn.primary_user_id, txn.outer_state, txn_id=txn.id)

    async def _complete(
        self, txn: Transaction, params: Mapping[str, str], record: AuditRecord
    ) -> Result:
        if params.get("error"):
            raise flow.nested_login_error(params["error"], params.get("error_description"))
        code = params.get("code")
        if not code:
            raise LinkError(Code.SECONDARY_LOGIN_FAILED, "The tenant returned no sign-in code.")
        budget = self.tenant.budget()
        tokens = await self.tenant.exchange_code(code, txn.code_verifier, budget)
        id_token = str(tokens["id_token"])
        keys = await self.tenant.keys.keys_for(key_id(id_token))
        claims = flow.check_secondary_token(id_token, keys, txn, self.settings, now=self.clock())
        claims = await self.tenant.with_userinfo(claims, tokens, budget)  # OIDC Core 5.4
        if txn.action == "unlink":
            target = flow.check_reauthentication(claims, txn)
            record.secondary = target.full_id
            await self.management.unlink(txn.primary_user_id, target, budget)
            return Result(status="unlinked", identity=target)
        if txn.existing is not None and claims["sub"] == txn.primary_user_id:
            # Signed in again with the linked identity: its new scopes are granted; nothing to link.
            return Result(status="already_linked", identity=txn.existing)
        identity = flow.secondary_identity(claims, txn, self.settings)
        record.secondary = identity.full_id
        return await self._link(txn, identity, budget, record)

    async def _link(
        self, txn: Transaction, identity: Identity, budget: Budget, record: AuditRecord
    ) -> Result:
        primary = await self.management.get_user(txn.primary_user_id, budget)
        if any(i.full_id == identity.full_id for i in identities_of(primary)):
            return Result(status="already_linked", identity=identity)
        secondary = await self.management.get_user(identity.full_id, budget)
        flow.check_secondary_user(secondary)
        # The identity as the tenant lists it: its connection is the authority, not our guess.
        listed = [i for i in identities_of(secondary) if i.full_id == identity.full_id]
        identity = listed[0] if listed else identity
        record.secondary_metadata = {
            "user_metadata": secondary.get("user_metadata") or {},
            "app_metadata": secondary.get("app_metadata") or {},
        }
        self.audit.write(replace(record, event="snapshot", status="pending"), when=self.clock())
        patch = metadata_patch(
            primary,
            secondary,
            mode=self.settings.metadata_merge,
            include_app_metadata=self.settings.merge_app_metadata,
        )
        if patch:
            await self.management.update_metadata(txn.primary_user_id, patch, budget)
        try:
            await self.management.link(txn.primary_user_id, identity, budget)
        except LinkError:
            if patch:
                await self._undo_merge(txn.primary_user_id, primary, patch)
            raise
        return Result(status="linked", identity=identity)

    async def _undo_merge(
        self, user_id: str, before: Mapping[str, Any], patch: Mapping[str, Any]
    ) -> None:
        """The link failed: put the primary's metadata back as it was, so nothing is half-done."""
        try:
            await self.management.update_metadata(
                user_id, revert_patch(before, patch), self.tenant.budget()
            )
        except LinkError as error:
            log_event("merge_revert_failed", sub=user_id, code=error.code)

    # -- shared --------------------------------------------------------------------------

    def _resume(self, result: Result, sub: str, state: str, *, txn_id: str | None = None) -> Resume:
        token, jti = encode_result_token(
            result,
            sub=sub,
            state=state,
            secret=self.settings.action_secrets[0],
            issuer=self.settings.public_url,
            now=self.clock(),
        )
        log_event("result_token", jti=jti, sub=sub, status=result.status, code=result.error)
        return Resume(
            continue_url=f"{self.settings.tenant_url}/continue",
            state=state,
            session_token=token,
            txn_id=txn_id,
        )

    def _finish(self, step: str, began: float, record: AuditRecord, **extra: object) -> None:
        """The step's log line and metrics, from what the audit record holds."""
        self._observe(
            step,
            began,
            code=record.code,
            status=record.status,
            sub=record.primary,
            client_id=record.client_id,
            connection=record.connection,
            secondary=record.secondary,
            **extra,
        )

    def _dead_end(self, step: str, began: float, error: LinkError) -> None:
        self._observe(step, began, code=error.code.value, status="dead_end")

    def _observe(
        self, step: str, began: float, *, code: str | None, status: str, **extra: object
    ) -> None:
        elapsed = time.perf_counter() - began
        self.metrics.count("linker_requests_total", step=step, status=status, code=code or "")
        self.metrics.observe("linker_request_seconds", elapsed, step=step)
        log_event(step, code=code, status=status, ms=round(elapsed * 1000, 1), **extra)


def _store_down() -> LinkError:
    return LinkError(Code.UPSTREAM_UNAVAILABLE, "Linking is unavailable right now; try again.")
