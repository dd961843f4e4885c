"""linker.core.merge: metadata merge as a pure function: every mode, nested objects, lists,
conflicting types."""

from __future__ import annotations

from typing import Any

import pytest

from linker.core.merge import deep_merge, merge_metadata, metadata_patch

PRIMARY: dict[str, Any] = {
    "theme": "dark",
    "prefs": {"lang": "en", "tz": "UTC"},
    "tags": ["a"],
    "n": {"x": 1},
}
SECONDARY: dict[str, Any] = {
    "theme": "light",
    "prefs": {"lang": "fr", "font": "serif"},
    "tags": ["b"],
    "n": 5,
    "only_secondary": {"deep": {"k": True}},
}


def test_primary_wins() -> None:
    assert merge_metadata(PRIMARY, SECONDARY, "primary-wins") == {
        "theme": "dark",
        "prefs": {"lang": "en", "tz": "UTC", "font": "serif"},
        "tags": ["a"],  # lists are values: the winner's list is kept whole
        "n": {"x": 1},  # conflicting types: the winner's value
        "only_secondary": {"deep": {"k": True}},
    }


def test_secondary_wins() -> None:
    assert merge_metadata(PRIMARY, SECONDARY, "secondary-wins") == {
        "theme": "light",
        "prefs": {"lang": "fr", "tz": "UTC", "font": "serif"},
        "tags": ["b"],
        "n": 5,
        "only_secondary": {"deep": {"k": True}},
    }


def test_none_keeps_the_primary() -> None:
    assert merge_metadata(PRIMARY, SECONDARY, "none") == PRIMARY


def test_merge_does_not_alias_inputs() -> None:
    merged = deep_merge(PRIMARY, SECONDARY)
    merged["prefs"]["lang"] = "de"
    merged["only_secondary"]["deep"]["k"] = False
    assert PRIMARY["prefs"]["lang"] == "en"
    assert SECONDARY["only_secondary"]["deep"]["k"] is True


@pytest.mark.parametrize("mode", ["primary-wins", "secondary-wins"])
def test_every_secondary_key_survives(mode: Any) -> None:
    merged = merge_metadata(PRIMARY, SECONDARY, mode)
    assert set(SECONDARY) <= set(merged)
    assert set(SECONDARY["prefs"]) <= set(merged["prefs"])


def test_patch_covers_app_metadata_only_when_asked() -> None:
    primary = {"user_metadata": {"a": 1}, "app_metadata": {"role": "admin"}}
    secondary = {"user_metadata": {"b": 2}, "app_metadata": {"plan": "pro"}}
    assert metadata_patch(primary, secondary, mode="primary-wins", include_app_metadata=False) == {
        "user_metadata": {"b": 2}
    }
    both = metadata_patch(primary, secondary, mode="primary-wins", include_app_metadata=True)
    assert both["app_metadata"] == {"plan": "pro"}


def test_patch_carries_only_the_top_level_keys_it_adds_or_changes() -> None:
    """Auth0 replaces each top-level key a PATCH names: one not named cannot be put back."""
    primary = {"user_metadata": {"keep": 1, "prefs": {"a": 1}, "same": {"x": 1}}}
    secondary = {"user_metadata": {"prefs": {"b": 2}, "same": {"x": 1}, "new": [1]}}
    for mode in ("primary-wins", "secondary-wins"):
        patch = metadata_patch(primary, secondary, mode=mode, include_app_metadata=False)
        assert patch == {"user_metadata": {"prefs": {"a": 1, "b": 2}, "new": [1]}}
    changed = {"user_metadata": {"keep": 2}}
    assert metadata_patch(primary, changed, mode="secondary-wins", include_app_metadata=False) == {
        "user_metadata": {"keep": 2}
    }


def test_patch_is_empty_when_nothing_changes() -> None:
    user = {"user_metadata": {"a": 1}}
    assert (
        metadata_patch(
            user, {"user_metadata": {"a": 2}}, mode="primary-wins", include_app_metadata=True
        )
        == {}
    )
    assert metadata_patch(user, {}, mode="secondary-wins", include_app_metadata=False) == {}
