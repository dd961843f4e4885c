"""`POST /link/commit`: the Action confirms a prepared attempt from inside the tenant's login.

Only the Action can sign a commit token, and the tenant runs `onContinuePostLogin` only in the
browser that holds the login, so a link URL opened anywhere else never gets here. The prepared
attempt is claimed atomically and once; its outcome is recorded, so that a retried commit gets
the same answer and nothing is written twice.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from linker.core import events
from linker.core.action_tokens import CommitRejected, CommitRequest, Result, decode_commit_token
from linker.core.errors import Code, LinkError
from linker.core.identities import Identity
from linker.ops.admission import busy
from linker.ops.audit import AuditRecord, AuditUnavailable, audit_unavailable
from linker.runtime import Runtime
from linker.state.attempts import IN_PROGRESS, ForAnotherUser, Prepared, Recorded
from linker.state.store import StoreUnavailable
from linker.state.store_clock import clock_off
from linker.steps import suggest_writes, writes
from linker.steps.outcomes import StepReport, reported, store_down

# How often a retried commit looks for the outcome of the request still writing it.
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class CommitAnswer:
    """The JSON answer: 200 with the final result, 401 for a token that is not valid, or 503
    (`upstream_unavailable`) when the service is too busy to take the commit now."""

    status_code: int
    body: dict[str, Any]


def _rejected(report: StepReport, reason: str) -> CommitAnswer:
    report.ended("rejected", "invalid_commit_token")
    return CommitAnswer(401, {"error": "invalid_commit_token", "error_description": reason})


def _busy(report: StepReport, error: LinkError, **fields: object) -> CommitAnswer:
    """A 503: nothing was claimed or written, and the same commit can be sent again."""
    report.busy(error, **fields)
    return CommitAnswer(503, {"error": error.code.value, "error_description": error.description})


async def commit(rt: Runtime, token: str) -> CommitAnswer:
    """Run `/link/commit` for the commit token in the request body."""
    with reported(rt, "commit") as report:
        with rt.admission.slot() as admitted:
            if admitted:
                return await _commit(rt, token, report)
        # Before the attempt is claimed: it stays prepared, and nothing is written.
        return _busy(report, busy())


async def _commit(rt: Runtime, token: str, report: StepReport) -> CommitAnswer:
    try:
        now = rt.store_clock.now()
        req = decode_commit_token(token, secrets=rt.settings.action_secrets, now=now)
    except CommitRejected as exc:
        if exc.by_clock and await rt.store_clock.off():
            # This host's clock refused it, not the Action: the attempt stays, for a retry.
            return _busy(report, clock_off())
        return _rejected(report, str(exc))
    try:
        # Before the claim: an audit file that cannot take the outcome leaves the attempt
        # prepared, and nothing is written (a 503 the Action reports as "try again").
        rt.audit.check()
    except AuditUnavailable:
        return _busy(report, audit_unavailable(), sub=req.sub)
    try:
        claimed = await rt.attempts.claim(req.commit, req.sub)
    except StoreUnavailable:
        return _answer(report, req, Result.from_error(store_down()))
    except ForAnotherUser:
        # Another user's commit: refused, and the attempt stays for its owner.
        return _rejected(report, "the commit token was issued for another user")
    if claimed is None:
        return _answer(report, req, await _recorded(rt, req))
    written = await _write(rt, claimed, req)
    # Not recorded: the answer below is still true; a retry finds "in progress", then unknown.
    # The finished work item goes in the same step: until then reconcile can still settle it.
    # The write's event goes to the outbox in that step too (`linker.steps.delivery`).
    with contextlib.suppress(StoreUnavailable):
        await rt.attempts.record(
            req.commit,
            req.sub,
            written.result,
            finished=written.finished,
            event=written.event,
            owed=written.owed.announced() if written.owed and written.event else None,
        )
        if written.event is not None:
            rt.events_recorded.set()
    return _answer(report, req, written.result)


async def _write(rt: Runtime, attempt: Prepared, req: CommitRequest) -> writes.Written:
    audit_id = events.audit_id_of(attempt.commit)
    record = AuditRecord(
        action=attempt.action,
        client_id=attempt.client_id,
        primary=attempt.primary,
        # The identity's own: an unlink's attempt names the re-authentication's connection.
        connection=attempt.identity.connection,
        ip=attempt.ip,
        secondary=attempt.identity.full_id,
        audit_id=audit_id,
    )
    budget = rt.tenant.budget()
    now = rt.clock()

    def linked(identity: Identity) -> events.Event:
        return events.linked(
            primary_user_id=attempt.primary, secondary=identity, audit_id=audit_id, time=now
        )

    try:
        if attempt.action == "unlink":
            event = events.unlinked(
                primary_user_id=attempt.primary,
                identity=attempt.identity,
                audit_id=audit_id,
                time=now,
            )
            written = await writes.unlink(
                rt, attempt, req.user, budget, event=event if rt.settings.events_url else None
            )
        elif attempt.action in suggest_writes.ACTIONS:
            written = await suggest_writes.write(rt, attempt, req.user, budget, record)
        else:
            written = await writes.link(rt, attempt, req.user, budget, record, event=linked)
    except LinkError as error:
        written = writes.Written(Result.from_error(error))
    except StoreUnavailable:
        written = writes.Written(Result.from_error(store_down()))
    record.status, record.code = written.result.status, written.result.error
    # After a write, the file refusing this line changes nothing: it waits in the store.
    await rt.audit.write(record, when=rt.clock())
    return written


async def _recorded(rt: Runtime, req: CommitRequest) -> Result:
    """No prepared attempt: the outcome of an earlier commit of it, or `transaction_not_found`."""
    polls = int(rt.settings.upstream_budget / POLL_SECONDS) + 1
    for _ in range(polls):
        try:
            found = await rt.attempts.outcome(req.commit)
        except StoreUnavailable:
            return Result.from_error(store_down())
        if isinstance(found, Recorded) and found.primary == req.sub:
            return found.result
        if found != IN_PROGRESS:
            return Result.from_error(
                LinkError(
                    Code.TRANSACTION_NOT_FOUND,
                    "This link is unknown or has expired. Start again from the application.",
                )
            )
        await rt.sleep(POLL_SECONDS)
    return Result.from_error(
        LinkError(Code.OUTCOME_UNKNOWN, "This link is still being written; it will be finished.")
    )


def _answer(report: StepReport, req: CommitRequest, result: Result) -> CommitAnswer:
    report.ended(result.status, result.error, sub=req.sub, commit_jti=req.jti)
    return CommitAnswer(200, result.to_claim())
