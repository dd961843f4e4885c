"""linker.state.keys: the keys of one user's events share their index's slot."""

from __future__ import annotations

from linker.state.keys import event_index, event_key, new_commit_id, restored_event_key


def slot_tag(key: str) -> str:
    """The part of a key between `{` and `}`: what a Redis Cluster hashes."""
    return key[key.index("{") + 1 : key.index("}")]


def test_a_restored_event_is_listed_with_its_users_other_events() -> None:
    restored = restored_event_key("auth0|alice", "aud_1")
    recorded = event_key(new_commit_id("auth0|alice"))
    assert slot_tag(restored) == slot_tag(recorded) == slot_tag(event_index(restored))
    assert event_index(restored) == event_index(recorded)  # one index: one order


def test_restoring_the_same_audit_line_again_names_the_same_key() -> None:
    assert restored_event_key("auth0|alice", "aud_1") == restored_event_key("auth0|alice", "aud_1")
    assert restored_event_key("auth0|alice", "aud_1") != restored_event_key("auth0|alice", "aud_2")
