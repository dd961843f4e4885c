"""`POST /link/confirm`: the user's choice on the page that shows the account to be linked.

After a nested login for a link, `/link/callback` verifies everything as before but, unless
`LINKER_CONFIRM_LINK` is off, prepares nothing yet: it keeps the verified identity in the store
under the transaction's id, with a one-time random token, and shows the account (connection,
name, masked email, picture). The nested login may have completed without the user doing
anything (a provider session in this browser, perhaps the attacker's): nothing is joined
until the user presses Link.

The choice is bound like every other step: a POST (cross-site, a SameSite=Lax cookie is not
sent), from a page of ours (`Origin`, when the browser sends it), carrying the transaction's
cookie for its `state`, and the token, which only the page shown to this browser holds. The
record is taken once. Link prepares the attempt and resumes `pending`, exactly as the callback
does without the page; Cancel resumes `denied` `cancelled`, and nothing is prepared.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from linker.core import decisions
from linker.core.action_tokens import Result
from linker.core.errors import Code, LinkError
from linker.core.identities import Identity
from linker.core.origins import same_origin
from linker.core.pkce import random_token
from linker.core.shown_account import ShownAccount
from linker.core.transaction import Transaction
from linker.ops.admission import busy
from linker.ops.audit import AuditRecord
from linker.runtime import Runtime
from linker.state.store import StoreUnavailable
from linker.steps.outcomes import (
    DeadEnd,
    Outcome,
    StepReport,
    reported,
    resume,
    store_down,
    time_refusal,
)

PREFIX = "confirm:"
CHOICES = ("link", "cancel")


@dataclass(frozen=True)
class Confirm:
    """Show the account and ask: the transaction's cookie stays, for the POST to come."""

    account: ShownAccount
    state: str
    token: str


async def ask(rt: Runtime, txn: Transaction, identity: Identity, account: ShownAccount) -> Confirm:
    """Keep the verified attempt until the user chooses (raises `StoreUnavailable`)."""
    token = random_token()
    record = json.dumps(
        {"txn": txn.dumps(), "identity": identity.to_claim(), "token": token},
        separators=(",", ":"),
    )
    ttl = max(1.0, txn.expires_at - rt.store_clock.now())
    await rt.attempts.store.put(PREFIX + txn.id, record, ttl)
    return Confirm(account=account, state=txn.id, token=token)


def _same_origin(origin: str | None, public_url: str) -> bool:
    """No `Origin` (older browsers, some same-origin POSTs) is accepted: the cookie and the
    token bind the request. One that is sent must be linker's own."""
    return origin is None or same_origin(origin, public_url)


async def choose(
    rt: Runtime,
    form: Mapping[str, str],
    *,
    cookie_ok: Callable[[str], bool],
    origin: str | None,
    ip: str | None,
) -> Outcome:
    """Run `POST /link/confirm`."""
    with reported(rt, "confirm") as report:
        state, token, choice = form.get("state", ""), form.get("token", ""), form.get("choice", "")
        if not _same_origin(origin, rt.settings.public_url) or not state or not cookie_ok(state):
            error = decisions.browser_mismatch()
            report.dead_end(error)
            return DeadEnd(error)
        if choice not in CHOICES or not token:
            error = LinkError(Code.INVALID_REQUEST, "Choose Link or Cancel on the page shown.")
            report.dead_end(error)
            return DeadEnd(error)
        with rt.admission.slot() as admitted:
            if admitted:
                return await _choose(rt, state, token, choice, ip, report)
        error = busy(reload=True)
        report.busy(error)
        return DeadEnd(error, status=503)


async def _choose(
    rt: Runtime, state: str, token: str, choice: str, ip: str | None, report: StepReport
) -> Outcome:
    try:
        raw = await rt.attempts.store.take(PREFIX + state)
    except StoreUnavailable:
        error = store_down()
        report.dead_end(error)
        return DeadEnd(error, status=503)
    kept = json.loads(raw) if raw is not None else None
    if (
        raw is None
        or kept is None
        or not hmac.compare_digest(str(kept["token"]).encode(), token.encode())
    ):
        error = LinkError(
            Code.TRANSACTION_NOT_FOUND,
            "This link is unknown, expired or already chosen. Start again from the application.",
        )
        report.dead_end(error)
        return DeadEnd(error)
    txn = Transaction.loads(state, kept["txn"])
    identity = Identity(**kept["identity"])
    try:
        decisions.check_transaction(txn, ip=ip, settings=rt.settings, now=rt.store_clock.now())
    except LinkError as refused:
        return await time_refusal(
            rt,
            report,
            refused,
            txn,
            lambda _, left: rt.attempts.store.put(PREFIX + state, raw, left),
        )
    record = AuditRecord.of_transaction(txn, ip, secondary=identity.full_id)
    if choice == "link":
        from linker.steps.callback import prepare  # the callback's step 5, as without the page

        try:
            result = await prepare(rt, txn, identity, ip)
        except StoreUnavailable:
            result = Result.from_error(store_down())
    else:
        result = Result.from_error(
            LinkError(Code.CANCELLED, "You chose not to link that account; nothing was changed.")
        )
    record.status, record.code = result.status, result.error
    if result.status != "pending":
        await rt.audit.write(record, when=rt.clock())
    back = resume(rt, result, txn.primary_user_id, txn.outer_state, txn_id=txn.id)
    report.finished(record, result_jti=back.jti)
    return back
