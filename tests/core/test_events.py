"""linker.core.events: the events' data, their ids and the retry schedule."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linker.core import events
from linker.core.identities import Identity

GITHUB = Identity("github", "42", "github")
NOW = 1_800_000_000.25


def test_a_link_event_names_the_primary_and_the_former_user() -> None:
    event = events.linked(primary_user_id="auth0|p", secondary=GITHUB, audit_id="a1", time=NOW)
    assert event.user_id == "auth0|p" and event.type == "identity.linked"
    assert json.loads(event.body()) == {
        "id": event.id,
        "type": "identity.linked",
        "timestamp": "2027-01-15T08:00:00.250Z",
        "data": {
            "audit_id": "a1",
            "primary_user_id": "auth0|p",
            "former_user_id": "github|42",
            "connection": "github",
            "provider": "github",
            "provider_user_id": "42",
        },
    }


def test_unlink_and_merge_events() -> None:
    unlinked = events.unlinked(primary_user_id="auth0|p", identity=GITHUB, audit_id="a2", time=NOW)
    assert unlinked.data["user_id"] == "github|42"
    merged = events.merged(
        primary_user_id="auth0|old",
        signed_in_user_id="github|42",
        secondary=GITHUB,
        audit_id="a3",
        time=NOW,
    )
    assert merged.user_id == "auth0|old" and merged.data["former_user_id"] == "github|42"


def test_one_outcome_makes_one_event_id_whoever_records_it() -> None:
    first = events.linked(primary_user_id="p", secondary=GITHUB, audit_id="a1", time=NOW)
    again = events.linked(primary_user_id="p", secondary=GITHUB, audit_id="a1", time=NOW + 9)
    other = events.unlinked(primary_user_id="p", identity=GITHUB, audit_id="a1", time=NOW)
    assert first.id == again.id != other.id
    assert len(events.event_id("x" * 500, "identity.linked")) <= events.MAX_ID_LENGTH


def test_an_event_reads_back_from_the_outbox() -> None:
    event = events.linked(primary_user_id="p", secondary=GITHUB, audit_id="a1", time=NOW)
    assert events.Event.loads(event.dumps()) == event
    with pytest.raises(ValueError):
        events.Event.loads(json.dumps(["i", "user.deleted", 1.0, "p", "a", {}]))


@given(st.integers(min_value=1, max_value=7), st.integers())
def test_a_wait_follows_the_schedule_within_its_jitter(failures: int, seed: int) -> None:
    wait = events.next_wait(failures, events.DEFAULT_SCHEDULE, random.Random(seed))
    base = events.DEFAULT_SCHEDULE[failures - 1]
    assert wait is not None and base * 0.9 <= wait <= base * 1.1


def test_after_the_last_wait_the_event_is_parked() -> None:
    schedule = events.DEFAULT_SCHEDULE
    assert events.next_wait(len(schedule) + 1, schedule, random.Random(1)) is None
    assert 20 * 3600 < sum(schedule) < 30 * 3600  # about a day


@pytest.mark.parametrize(
    ("text", "waits"),
    [
        ("5s,5m,30m,2h", (5.0, 300.0, 1800.0, 7200.0)),
        ("1d", (86400.0,)),
        (" 10s , 1m ", (10.0, 60.0)),
    ],
)
def test_a_schedule_reads_from_its_setting(text: str, waits: tuple[float, ...]) -> None:
    assert events.parse_schedule(text) == waits


@pytest.mark.parametrize("text", ["", "5", "5x", "-5s", "1.5m", "9999999s", ",".join(["1s"] * 31)])
def test_a_schedule_that_cannot_be_read_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        events.parse_schedule(text)


def test_a_schedule_is_written_as_it_is_read() -> None:
    assert events.format_schedule(events.DEFAULT_SCHEDULE) == "5s,5m,30m,2h,5h,10h,10h"
    assert events.parse_schedule(events.format_schedule((90, 86400, 7))) == (90, 86400, 7)


def audit_line(**fields: object) -> dict[str, object]:
    """An `attempt` line of the audit file, as `linker.ops.audit` writes a finished link."""
    return {
        "event": "attempt",
        "action": "link",
        "status": "linked",
        "primary": "auth0|p",
        "secondary": "github|42",
        "connection": "github",
        "audit_id": "aud_1",
        "time": "2027-01-15T08:00:00.250000+00:00",
        "merge": "applied",
        **fields,
    }


def test_an_audit_line_makes_again_the_event_its_write_made() -> None:
    first = events.linked(primary_user_id="auth0|p", secondary=GITHUB, audit_id="aud_1", time=NOW)
    assert events.from_audit(audit_line()) == first
    unlink = events.from_audit(audit_line(action="unlink", status="unlinked"))
    assert unlink == events.unlinked(
        primary_user_id="auth0|p", identity=GITHUB, audit_id="aud_1", time=NOW
    )
    # Suggested linking: the older account is the line's primary, the one signed in its secondary.
    merged = events.from_audit(audit_line(action="suggest", direction="into_candidate"))
    assert merged is not None and merged.type == "user.merged"
    assert merged.user_id == "auth0|p" and merged.data["former_user_id"] == "github|42"


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "failed"},  # refused: nothing written
        {"status": "outcome_unknown"},  # reconcile settles it, by reading the tenant
        {"event": "snapshot", "status": "pending"},
        {"action": "unlink", "status": "linked"},
        {"action": "suggest"},  # a suggestion declined, or of another direction
        {"audit_id": None},
        {"secondary": "no-bar"},
        {"primary": 42},
        {"time": "yesterday"},
        {"time": "2027-01-15T08:00:00"},  # no offset: no moment
    ],
)
def test_an_audit_line_of_no_finished_write_makes_no_event(fields: dict[str, object]) -> None:
    assert events.from_audit(audit_line(**fields)) is None
