"""`/link/start`: check the Action's request and send the browser to the nested login.

The order is the contract's (PROTOCOL §4, `/link/start`): the start token (used once), the
client, the `id_token_hint`, the policies, the plan; then the transaction is stored and bound
to this browser. Decisions come from `linker.core.decisions`; this module does the I/O around them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from linker.core import decisions
from linker.core.action_tokens import Result, StartRequest, decode_start_token
from linker.core.claims import LEEWAY
from linker.core.errors import Code, LinkError
from linker.core.id_tokens import key_id
from linker.core.pkce import random_token, s256_challenge
from linker.core.transaction import Transaction
from linker.ops import throttle
from linker.ops.admission import busy, no_room
from linker.ops.audit import AuditRecord
from linker.runtime import Runtime
from linker.state.keys import new_txn_id
from linker.state.store import NoRoom, StoreUnavailable
from linker.steps.outcomes import (
    DeadEnd,
    NestedLogin,
    Outcome,
    Resume,
    StepReport,
    reported,
    resume,
    store_down,
)

Ended = TypeVar("Ended")


async def read_start(
    rt: Runtime, report: StepReport, session_token: str, outer_state: str
) -> StartRequest | DeadEnd:
    """The Action's start token, verified, for a step it begins (`start`, `suggest`); a bad
    one is a dead end: there is nothing trustworthy to resume."""
    try:
        req = decode_start_token(
            session_token,
            secrets=rt.settings.action_secrets,
            domain=rt.settings.auth0_domain,
            now=rt.store_clock.now(),
        )
        if not outer_state:
            raise LinkError(Code.INVALID_REQUEST, "The request carries no state to resume.")
    except LinkError as refused:
        # A refusal this host's clock made is "try again" (503), not the user's fault.
        error = await rt.store_clock.judge(refused)
        report.dead_end(error)
        return DeadEnd(error, status=400 if error is refused else 503)
    return req


async def start(rt: Runtime, session_token: str, outer_state: str, ip: str | None) -> Outcome:
    """Run `/link/start`; a bad start token is a dead end, every later refusal resumes."""

    def attempt(req: StartRequest, report: StepReport) -> Awaitable[Outcome]:
        return _attempt(rt, req, outer_state, ip, report)

    return await run_started(rt, "start", session_token, outer_state, attempt)


async def run_started(
    rt: Runtime,
    step: str,
    session_token: str,
    outer_state: str,
    attempt: Callable[[StartRequest, StepReport], Awaitable[Ended]],
) -> Ended | DeadEnd | Resume:
    """A step the Action's start token begins (`start`, `suggest`): the token verified (a bad
    one is a dead end), then `attempt` when there is room. When there is none, a busy result
    resumes the login at once, before the token is marked used: the same URL works later."""
    with reported(rt, step) as report:
        req = await read_start(rt, report, session_token, outer_state)
        if isinstance(req, DeadEnd):
            return req
        with rt.admission.slot() as admitted:
            if admitted:
                return await attempt(req, report)
        refusal = busy()
        back = resume(rt, Result.from_error(refusal), req.sub, outer_state)
        report.busy(refusal, sub=req.sub, start_jti=req.jti, result_jti=back.jti)
        return back


async def _attempt(
    rt: Runtime, req: StartRequest, outer_state: str, ip: str | None, report: StepReport
) -> Outcome:
    record = AuditRecord(
        action=req.action,
        client_id=req.client_id,
        primary=req.sub,
        connection=req.requested_connection,
        ip=ip,
    )
    outcome: Outcome
    try:
        outcome = await _start(rt, req, outer_state, ip)
    except LinkError as error:
        error = await rt.store_clock.judge(error)
        record.status, record.code = error.status, error.code.value
        outcome = resume(rt, Result.from_error(error), req.sub, outer_state)
    else:
        if isinstance(outcome, DeadEnd):
            report.dead_end(outcome.error, start_jti=req.jti)
            return outcome
        record.status = "redirect" if isinstance(outcome, NestedLogin) else "already_linked"
    if not isinstance(outcome, NestedLogin):  # the attempt ends here: audit it
        await rt.audit.write(record, when=rt.clock())
    result_jti = outcome.jti if isinstance(outcome, Resume) else None
    report.finished(record, start_jti=req.jti, result_jti=result_jti)
    return outcome


async def _start(rt: Runtime, req: StartRequest, outer_state: str, ip: str | None) -> Outcome:
    settings, now = rt.settings, rt.store_clock.now()
    try:
        # Before the start token is marked used: a throttled start can be tried again.
        await throttle.admit(rt, req.client_id, ip)
        first = await rt.attempts.first_use(req.jti, ttl=max(1.0, req.expires_at + LEEWAY - now))
    except NoRoom:
        rt.refusals.refused(rt.metrics, "room")
        raise no_room() from None
    except StoreUnavailable:
        raise store_down() from None
    if not first:
        # A used start URL (forwarded, leaked, or reloaded) must not start a second attempt.
        return DeadEnd(
            LinkError(
                Code.INVALID_SESSION_TOKEN,
                "This link was already used. Start again from the application.",
            )
        )
    decisions.check_client_and_request(req, settings)
    hint = decisions.require_hint(req)
    claims = decisions.verify_hint_signature(hint, await rt.tenant.keys.keys_for(key_id(hint)))
    decisions.check_hint(claims, req, settings, now=now)
    decisions.check_policies(req, settings)
    decisions.check_ip(req.ip, ip, settings)
    decision = decisions.plan(req)
    if isinstance(decision, decisions.Finished):
        result = Result(status=decision.status, identity=decision.identity)
        return resume(rt, result, req.sub, outer_state)
    verifier = random_token()
    txn = Transaction(
        id=new_txn_id(req.sub),
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
        already_linked=decision.already_linked,
    )
    endpoint = await rt.tenant.authorize_endpoint()
    try:
        await rt.attempts.open(txn, ttl=settings.txn_ttl)
    except NoRoom:
        rt.refusals.refused(rt.metrics, "room")
        await rt.attempts.unspend(req.jti)  # nothing was opened: its start may come again
        raise no_room() from None
    except StoreUnavailable:
        raise store_down() from None
    url = decisions.authorize_url(
        endpoint, txn, settings=settings, challenge=s256_challenge(verifier)
    )
    return NestedLogin(url=url, txn_id=txn.id)
