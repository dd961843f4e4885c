"""`/link/callback`: the nested login's return. Verifies everything it can and writes nothing.

The browser must hold the transaction's cookie before anything is taken from the store; the
code is exchanged once; the ID token and the policies are checked; then the attempt is
*prepared* under a fresh commit id and the browser resumes at the tenant's `/continue` with a
`pending` result (for a link, once the user confirms the account shown: `linker.steps.confirm`).
The link itself is written only by `/link/commit` (see `linker.steps.commit`), which the Action
calls from inside the tenant's login: so it happens only in the browser that holds that login.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from linker.core import decisions
from linker.core import suggest as suggest_rules
from linker.core.action_tokens import Result
from linker.core.errors import Code, LinkError
from linker.core.id_tokens import key_id
from linker.core.identities import Identity
from linker.core.shown_account import shown_account
from linker.core.transaction import Transaction
from linker.ops.admission import busy
from linker.ops.audit import AuditRecord
from linker.runtime import Runtime
from linker.state.attempts import Prepared
from linker.state.keys import new_commit_id
from linker.state.store import StoreUnavailable
from linker.steps.confirm import Confirm, ask
from linker.steps.outcomes import (
    DeadEnd,
    Outcome,
    StepReport,
    reported,
    resume,
    store_down,
    time_refusal,
)


async def callback(
    rt: Runtime, params: Mapping[str, str], *, cookie_ok: Callable[[str], bool], ip: str | None
) -> Outcome | Confirm:
    """Run `/link/callback`: a dead end before the transaction is trusted, a resume after."""
    with reported(rt, "callback") as report:
        state = params.get("state", "")
        # The cookie first: a request without it must not destroy the attempt it names.
        if not state or not cookie_ok(state):
            error = decisions.browser_mismatch()
            report.dead_end(error)
            return DeadEnd(error)
        with rt.admission.slot() as admitted:
            if admitted:
                return await _attempt(rt, state, params, ip, report)
        # Nothing was taken: the transaction and its cookie stay, so a reload tries again.
        error = busy(reload=True)
        report.busy(error)
        return DeadEnd(error, status=503)


async def _attempt(
    rt: Runtime, state: str, params: Mapping[str, str], ip: str | None, report: StepReport
) -> Outcome | Confirm:
    try:
        taken = await rt.attempts.take(state)
    except StoreUnavailable:
        error = store_down()
        report.dead_end(error)
        return DeadEnd(error, status=503)
    try:
        txn = decisions.check_transaction(
            taken, ip=ip, settings=rt.settings, now=rt.store_clock.now()
        )
    except LinkError as refused:
        # A refusal this host's clock made is "try again" (503), not the user's fault.
        return await time_refusal(
            rt, report, refused, taken, lambda txn, left: rt.attempts.open(txn, ttl=left)
        )
    record = AuditRecord.of_transaction(txn, ip)
    verified: Result | Confirm
    try:
        verified = await _verify(rt, txn, params, ip)
    except LinkError as error:
        verified = Result.from_error(await rt.store_clock.judge(error))
    except StoreUnavailable:
        verified = Result.from_error(store_down())
    if isinstance(verified, Confirm):  # the account is shown; `/link/confirm` goes on
        report.ended("confirm", None, sub=txn.primary_user_id)
        return verified
    result = verified
    record.status, record.code = result.status, result.error
    record.secondary = result.identity.full_id if result.identity else None
    if result.status != "pending":  # a prepared attempt ends at the commit: audited there
        await rt.audit.write(record, when=rt.clock())
    back = resume(rt, result, txn.primary_user_id, txn.outer_state, txn_id=txn.id)
    report.finished(record, result_jti=back.jti)
    return back


async def _verify(
    rt: Runtime, txn: Transaction, params: Mapping[str, str], ip: str | None
) -> Result | Confirm:
    if params.get("error"):
        raise decisions.nested_login_error(params["error"], params.get("error_description"))
    code = params.get("code")
    if not code:
        raise LinkError(Code.SECONDARY_LOGIN_FAILED, "The tenant returned no sign-in code.")
    budget = rt.tenant.budget()  # one for the step's calls: the exchange and UserInfo
    tokens = await rt.tenant.exchange_code(code, txn.code_verifier, budget)
    id_token = str(tokens["id_token"])
    keys = await rt.tenant.keys.keys_for(key_id(id_token))
    now = rt.store_clock.now()
    claims = decisions.check_secondary_token(id_token, keys, txn, rt.settings, now=now)
    decisions.check_login_connection(claims, txn)  # from the signed token, not from UserInfo
    claims = await rt.tenant.with_userinfo(claims, tokens, budget)  # OIDC Core 5.4
    if txn.action == "unlink":
        return await prepare(rt, txn, decisions.check_reauthentication(claims, txn), ip)
    if txn.action == "suggest":  # the very candidate offered (docs/protocol.md section 8)
        return await prepare(rt, txn, suggest_rules.check_candidate(claims, txn), ip)
    if txn.already_linked is not None and claims["sub"] == txn.primary_user_id:
        # Signed in again with the linked identity: its new scopes are granted; nothing to link.
        return Result(status="already_linked", identity=txn.already_linked)
    identity = decisions.secondary_identity(claims, txn, rt.settings)
    if rt.settings.confirm_link:  # show the account before it is joined (`linker.steps.confirm`)
        return await ask(rt, txn, identity, shown_account(claims, txn.connection))
    return await prepare(rt, txn, identity, ip)


async def prepare(rt: Runtime, txn: Transaction, identity: Identity, ip: str | None) -> Result:
    """Remember the verified attempt under a new commit id; nothing is written to the tenant."""
    attempt = Prepared(
        # In the group of the user who survives the write: their events keep their order.
        commit=new_commit_id(identity.full_id if txn.action == "suggest" else txn.primary_user_id),
        action=txn.action,
        primary=txn.primary_user_id,
        identity=identity,
        connection=txn.connection,
        client_id=txn.client_id,
        ip=ip,
        created_at=rt.store_clock.now(),
    )
    await rt.attempts.prepare(attempt)
    return Result(status="pending", identity=identity, commit=attempt.commit)
