"""The commit of a suggestion: link the signed-in account into the older one, or remember
"Not now".

Accepting is a link with the roles turned round: the candidate (the older account, whose
control the nested login proved) is the primary, and the account the user signed in with is
linked into it. The write order and every rule are `linker.steps.writes.link`'s: the candidate is
read now and checked, the signed-in account's metadata is snapshotted, then the link, then one
PATCH that merges the snapshot into the candidate's metadata as just read. The audit record
names the candidate as primary and says the merge ran `into_candidate`; its event is
`user.merged`, under the candidate, who survives.
"""

from __future__ import annotations

from dataclasses import replace

from linker.core import events
from linker.core.action_tokens import PrimaryProfile, Result
from linker.core.backoff import Budget
from linker.core.errors import Code, LinkError
from linker.core.events import Event
from linker.core.identities import Identity
from linker.core.suggest import check_candidate_user, current_identity, decline_patch
from linker.ops.audit import AuditRecord
from linker.runtime import Runtime
from linker.state.attempts import Prepared
from linker.steps import writes

ACTIONS = frozenset({"suggest", "decline"})


async def write(
    rt: Runtime, attempt: Prepared, profile: PrimaryProfile, budget: Budget, record: AuditRecord
) -> writes.Written:
    """Commit step 3 for a suggestion; `profile` is the signed-in user's (the commit token's)."""
    if attempt.action == "decline":
        await rt.management.update_metadata(attempt.primary, decline_patch(rt.clock()), budget)
        record.secondary = None
        return writes.Written(Result(status="declined"))
    own = current_identity(profile, attempt.primary)
    candidate = attempt.identity
    user = await rt.management.find_user(candidate.full_id, budget)
    if user is None:
        raise LinkError(Code.IDENTITY_CONFLICT, "The other account no longer exists.")
    primary = check_candidate_user(user, candidate)
    record.primary, record.secondary, record.connection = (
        candidate.full_id,
        own.full_id,
        own.connection,
    )
    record.direction = "into_candidate"
    turned = replace(attempt, primary=candidate.full_id, identity=own, connection=own.connection)
    now = rt.clock()

    def event(linked: Identity) -> Event:
        return events.merged(
            primary_user_id=candidate.full_id,
            signed_in_user_id=attempt.primary,
            secondary=linked,
            audit_id=events.audit_id_of(attempt.commit),
            time=now,
        )

    written = await writes.link(rt, turned, primary, budget, record, event=event)
    return replace(written, result=replace(written.result, primary=candidate.full_id))
