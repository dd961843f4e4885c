"""How a step ends, as data: the web layer renders these, the steps never touch HTTP; and
how it is told (`reported`): each request to a step is one log line and one count, made here."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Protocol, TypeVar

from linker.core.action_tokens import Result, encode_result_token
from linker.core.errors import Code, LinkError
from linker.ops.audit import AuditRecord
from linker.ops.observability import log_event
from linker.runtime import Runtime
from linker.state.store import StoreUnavailable


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


class Expiring(Protocol):
    """A one-time record with an expiry on the store's clock."""

    @property
    def expires_at(self) -> float: ...


R = TypeVar("R", bound=Expiring)


async def time_refusal(
    rt: Runtime,
    report: StepReport,
    refused: LinkError,
    record: R | None,
    give_back: Callable[[R, float], Awaitable[object]],
) -> DeadEnd:
    """The dead end, reported, for a check that refused a one-time record (a transaction, a
    shown account, an offer) after it was taken. When time decided it and this host's clock
    is off (`StoreClock.judge`), the fault is the server's: the record is given back for the
    time it has left by the new measure, and the answer is "try again" (503), so that the
    retry finds it. A record expired by the store's clock too stays refused."""
    dead_end = DeadEnd(refused)
    error = await rt.store_clock.judge(refused)
    if error is not refused and record is not None:
        left = record.expires_at - rt.store_clock.now()
        if left > 0:
            with suppress(StoreUnavailable):  # then the retry finds nothing, and says so
                await give_back(record, left)
            dead_end = DeadEnd(error, status=503)
    report.dead_end(dead_end.error)
    return dead_end


class StepReport:
    """What one request to a step came to, said by the step as it ends (`dead_end`, `busy`,
    `finished`, `ended`) and turned into the step's one log line and its metrics by
    `reported`, the one place that does: a step decides, and never logs or counts itself."""

    __slots__ = ("began", "code", "fields", "status", "step")

    def __init__(self, step: str) -> None:
        self.step = step
        self.began = time.perf_counter()
        # A path that forgot to say how it ended shows as such, in the line and the metrics.
        self.status = "unreported"
        self.code: str | None = None
        self.fields: dict[str, object] = {}

    def ended(self, status: str, code: str | None, **fields: object) -> None:
        self.status, self.code = status, code
        self.fields.update(fields)

    def dead_end(self, error: LinkError, **fields: object) -> None:
        """Nothing trustworthy to resume (an error page)."""
        self.ended("dead_end", error.code.value, **fields)

    def busy(self, error: LinkError, **fields: object) -> None:
        """Refused for now, nothing taken: the same request can be tried again."""
        self.ended("busy", error.code.value, **fields)

    def finished(self, record: AuditRecord, **fields: object) -> None:
        """Ended as the audit record says."""
        self.ended(
            record.status,
            record.code,
            sub=record.primary,
            client_id=record.client_id,
            connection=record.connection,
            secondary=record.secondary,
            **fields,
        )


@contextmanager
def reported(rt: Runtime, step: str) -> Iterator[StepReport]:
    """A `StepReport` for the step to fill in; its log line and metrics once the step
    returns (an exception is left to the edge, which answers and logs it)."""
    report = StepReport(step)
    yield report
    elapsed = time.perf_counter() - report.began
    code, status = report.code, report.status
    rt.metrics.count("linker_requests_total", step=step, status=status, code=code or "")
    rt.metrics.observe("linker_request_seconds", elapsed, step=step)
    log_event(step, code=code, status=status, ms=round(elapsed * 1000, 1), **report.fields)
