"""`/link/suggest`: offer to link an older account with the same verified email, at sign-in.

The shim sends a login here (docs/protocol.md section 8) with a start token for action
`suggest`. The same lookups are made whatever they find, then either the login resumes at once
(`skipped`: nothing to offer) or the browser gets a page naming only the candidates'
connections, bound to it by a cookie as a transaction is. The user's choice is taken once:
linking a candidate runs the nested login of a link at the candidate's connection (the callback
checks that the very candidate shown signed in); refusing is prepared for the commit step in
`suggest` mode, or denied in `require` mode. Nothing here writes to the tenant.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from linker.core import decisions
from linker.core.action_tokens import Result, StartRequest
from linker.core.claims import LEEWAY
from linker.core.errors import Code, LinkError
from linker.core.pkce import random_token, s256_challenge
from linker.core.suggest import (
    Offer,
    candidates,
    check_offer,
    check_request,
    chosen,
    lookup_emails,
    refused,
)
from linker.core.transaction import Transaction
from linker.ops.admission import busy
from linker.ops.audit import AuditRecord
from linker.runtime import Runtime
from linker.state.attempts import Prepared
from linker.state.keys import new_commit_id, new_txn_id
from linker.state.offers import Offers
from linker.state.store import StoreUnavailable
from linker.steps.outcomes import (
    DeadEnd,
    NestedLogin,
    Outcome,
    Resume,
    StepReport,
    reported,
    resume,
    store_down,
    time_refusal,
)
from linker.steps.start import run_started


@dataclass(frozen=True)
class Offered:
    """Show the offer's page, with a cookie that binds the offer to this browser."""

    offer: Offer


SuggestOutcome = Outcome | Offered


async def suggest(
    rt: Runtime, session_token: str, outer_state: str, ip: str | None
) -> SuggestOutcome:
    """Run `/link/suggest`; a bad start token is a dead end, every later refusal resumes."""

    def attempt(req: StartRequest, report: StepReport) -> Awaitable[SuggestOutcome]:
        return _attempt(rt, req, outer_state, ip, report)

    return await run_started(rt, "suggest", session_token, outer_state, attempt)


async def _attempt(
    rt: Runtime, req: StartRequest, outer_state: str, ip: str | None, report: StepReport
) -> SuggestOutcome:
    record = AuditRecord(action="suggest", client_id=req.client_id, primary=req.sub, ip=ip)
    outcome: SuggestOutcome
    try:
        outcome = await _offer(rt, req, outer_state, ip)
    except LinkError as error:
        record.status, record.code = error.status, error.code.value
        await rt.audit.write(record, when=rt.clock())
        outcome = resume(rt, Result.from_error(error), req.sub, outer_state)
    else:
        if isinstance(outcome, DeadEnd):
            report.dead_end(outcome.error, start_jti=req.jti)
            return outcome
        record.status = "offered" if isinstance(outcome, Offered) else "skipped"
    report.finished(record, start_jti=req.jti)
    return outcome


async def _offer(
    rt: Runtime, req: StartRequest, outer_state: str, ip: str | None
) -> SuggestOutcome:
    settings, now = rt.settings, rt.store_clock.now()
    try:
        first = await rt.attempts.first_use(req.jti, ttl=max(1.0, req.expires_at + LEEWAY - now))
    except StoreUnavailable:
        raise store_down() from None
    if not first:
        return DeadEnd(
            LinkError(
                Code.INVALID_SESSION_TOKEN,
                "This sign-in link was already used. Sign in again from the application.",
            )
        )
    mode = check_request(req)
    decisions.check_client(req.client_id, settings)
    # The same lookups whatever they find: the answer time tells nothing about other accounts.
    budget = rt.tenant.budget()
    users: list[dict[str, Any]] = []
    for email in lookup_emails(req.email):
        users += await rt.management.users_by_email(email, budget)
    found = candidates(req, users)
    if not found:
        return resume(rt, Result(status="skipped"), req.sub, outer_state)
    offer = Offer(
        id=random_token(),
        primary=req.sub,
        email=req.email,
        client_id=req.client_id,
        outer_state=outer_state,
        mode=mode,
        ip=req.ip or ip,
        created_at=now,
        expires_at=now + settings.txn_ttl,
        candidates=tuple(found),
    )
    try:
        await Offers(rt.attempts.store).open(offer, ttl=settings.txn_ttl)
    except StoreUnavailable:
        raise store_down() from None
    return Offered(offer)


async def choose(
    rt: Runtime, form: Mapping[str, str], *, cookie_ok: Callable[[str], bool], ip: str | None
) -> Outcome:
    """`POST /link/suggest/choose`: the nested login at the chosen candidate's connection."""
    return await _decide(rt, "suggest_choose", form, cookie_ok=cookie_ok, ip=ip)


async def decline(
    rt: Runtime, form: Mapping[str, str], *, cookie_ok: Callable[[str], bool], ip: str | None
) -> Outcome:
    """`POST /link/suggest/decline`: "Not now" (prepared for the commit) or "Sign out"."""
    return await _decide(rt, "suggest_decline", form, cookie_ok=cookie_ok, ip=ip)


async def _decide(
    rt: Runtime,
    step: str,
    form: Mapping[str, str],
    *,
    cookie_ok: Callable[[str], bool],
    ip: str | None,
) -> Outcome:
    with reported(rt, step) as report:
        offer_id = form.get("offer", "")
        # The cookie first: a request from another browser must not spend the offer.
        if not offer_id or not cookie_ok(offer_id):
            error = decisions.browser_mismatch()
            report.dead_end(error)
            return DeadEnd(error)
        with rt.admission.slot() as admitted:
            if admitted:
                return await _decide_offer(rt, step, offer_id, form, ip, report)
        error = busy(reload=True)
        report.busy(error)
        return DeadEnd(error, status=503)


async def _decide_offer(
    rt: Runtime,
    step: str,
    offer_id: str,
    form: Mapping[str, str],
    ip: str | None,
    report: StepReport,
) -> Outcome:
    try:
        taken = await Offers(rt.attempts.store).take(offer_id)
    except StoreUnavailable:
        error = store_down()
        report.dead_end(error)
        return DeadEnd(error, status=503)
    try:
        offer = check_offer(taken, now=rt.store_clock.now())
        decisions.check_ip(offer.ip, ip, rt.settings)
    except LinkError as refused:
        return await time_refusal(
            rt,
            report,
            refused,
            taken,
            lambda kept, left: Offers(rt.attempts.store).open(kept, ttl=left),
        )
    record = AuditRecord(action="suggest", client_id=offer.client_id, primary=offer.primary, ip=ip)
    outcome: Outcome
    try:
        if step == "suggest_choose":
            picked = await _nested_login(rt, offer, form.get("candidate", ""))
            record.secondary = picked.candidate
            record.connection, record.status = picked.connection, "redirect"
            outcome = picked.login
        else:
            outcome = resume(rt, await _refuse(rt, offer, ip), offer.primary, offer.outer_state)
            record.status = "pending"
    except LinkError as error:
        record.status, record.code = error.status, error.code.value
        await rt.audit.write(record, when=rt.clock())
        outcome = resume(rt, Result.from_error(error), offer.primary, offer.outer_state)
    except StoreUnavailable:
        down = store_down()
        record.status, record.code = down.status, down.code.value
        outcome = resume(rt, Result.from_error(down), offer.primary, offer.outer_state)
    result_jti = outcome.jti if isinstance(outcome, Resume) else None
    report.finished(record, result_jti=result_jti)
    return outcome


@dataclass(frozen=True)
class _Chosen:
    login: NestedLogin
    candidate: str
    connection: str


async def _nested_login(rt: Runtime, offer: Offer, index: str) -> _Chosen:
    settings, now = rt.settings, rt.store_clock.now()
    candidate = chosen(offer, index)
    verifier = random_token()
    txn = Transaction(
        id=new_txn_id(offer.primary),  # in the slot of the user's index, as start's
        action="suggest",
        primary_user_id=offer.primary,
        primary_email=offer.email,
        client_id=offer.client_id,
        connection=candidate.connection,
        connection_scope=None,
        outer_state=offer.outer_state,
        nonce=random_token(),
        code_verifier=verifier,
        ip=offer.ip,
        created_at=now,
        expires_at=now + settings.txn_ttl,
        target=candidate,  # the callback checks that this very account signed in
    )
    endpoint = await rt.tenant.authorize_endpoint()
    await rt.attempts.open(txn, ttl=settings.txn_ttl)
    url = decisions.authorize_url(
        endpoint, txn, settings=settings, challenge=s256_challenge(verifier)
    )
    return _Chosen(NestedLogin(url=url, txn_id=txn.id), candidate.full_id, candidate.connection)


async def _refuse(rt: Runtime, offer: Offer, ip: str | None) -> Result:
    denial = refused(offer.mode)
    if denial is not None:
        raise denial
    # "Not now" is remembered in the user's app_metadata: written by the commit step only.
    attempt = Prepared(
        commit=new_commit_id(offer.primary),  # the user whose app_metadata the commit writes
        action="decline",
        primary=offer.primary,
        identity=offer.candidates[0],
        connection=offer.candidates[0].connection,
        client_id=offer.client_id,
        ip=ip,
        created_at=rt.store_clock.now(),
    )
    await rt.attempts.prepare(attempt)
    return Result(status="pending", commit=attempt.commit)
