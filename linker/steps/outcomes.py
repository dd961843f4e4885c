"""How a step ends, as data: the web layer renders these, the steps never touch HTTP."""

from __future__ import annotations

import time
from dataclasses import dataclass

from linker.core.action_tokens import Result, encode_result_token
from linker.core.errors import Code, LinkError
from linker.ops.audit import AuditRecord
from linker.ops.observability import log_event
from linker.runtime import Runtime


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
    jti: str  # the result token's: the step's log line names it instead of the token
    txn_id: str | None = None


Outcome = DeadEnd | NestedLogin | Resume


def resume(
    rt: Runtime, result: Result, sub: str, state: str, *, txn_id: str | None = None
) -> Resume:
    """Sign the result token for `/continue`; only its `jti` reaches the log (the step's
    line carries it as `result_jti`)."""
    token, jti = encode_result_token(
        result,
        sub=sub,
        state=state,
        secret=rt.settings.action_secrets[0],
        issuer=rt.settings.public_url,
        now=rt.store_clock.now(),
    )
    return Resume(
        continue_url=f"{rt.settings.tenant_url}/continue",
        state=state,
        session_token=token,
        jti=jti,
        txn_id=txn_id,
    )


def store_down() -> LinkError:
    return LinkError(Code.UPSTREAM_UNAVAILABLE, "Linking is unavailable right now; try again.")


def finish(rt: Runtime, step: str, began: float, record: AuditRecord, **extra: object) -> None:
    """The step's log line and metrics, from what the audit record holds."""
    observe(
        rt,
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


def dead_end(rt: Runtime, step: str, began: float, error: LinkError, **extra: object) -> None:
    observe(rt, step, began, code=error.code.value, status="dead_end", **extra)


def observe(
    rt: Runtime, step: str, began: float, *, code: str | None, status: str, **extra: object
) -> None:
    elapsed = time.perf_counter() - began
    rt.metrics.count("linker_requests_total", step=step, status=status, code=code or "")
    rt.metrics.observe("linker_request_seconds", elapsed, step=step)
    log_event(step, code=code, status=status, ms=round(elapsed * 1000, 1), **extra)
