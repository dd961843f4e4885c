"""Metadata merge before a link: Auth0 discards the secondary's metadata, so it is folded in first.

Pure functions over JSON-like values. Objects merge key by key, recursively; anything else
(strings, numbers, lists, and an object meeting a non-object) is a single value and the winner
takes it whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

MergeMode = Literal["none", "primary-wins", "secondary-wins"]
MERGE_MODES: tuple[MergeMode, ...] = ("none", "primary-wins", "secondary-wins")


def deep_merge(base: Mapping[str, Any], winner: Mapping[str, Any]) -> dict[str, Any]:
    """`base` overlaid with `winner`: on every conflict the winner's value is kept.

    The result shares nothing with the inputs: every value is copied exactly once.
    """
    merged = {key: _copy(value) for key, value in base.items() if key not in winner}
    for key, value in winner.items():
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = _copy(value)
    return merged


def merge_metadata(
    primary: Mapping[str, Any], secondary: Mapping[str, Any], mode: MergeMode
) -> dict[str, Any]:
    """The primary's metadata after the link, for one merge mode."""
    if mode == "none":
        return {key: _copy(value) for key, value in primary.items()}
    if mode == "primary-wins":
        return deep_merge(secondary, primary)
    return deep_merge(primary, secondary)


def metadata_patch(
    primary_user: Mapping[str, Any],
    secondary_user: Mapping[str, Any],
    *,
    mode: MergeMode,
    include_app_metadata: bool,
) -> dict[str, Any]:
    """The PATCH body that merges the secondary's metadata into the primary; `{}` if no change.

    Only the top-level keys the merge adds or changes are in it: Auth0 replaces each top-level
    key a PATCH names and leaves the others alone, so a key that is not sent cannot be put
    back as it was when `primary_user` was read."""
    kinds = ("user_metadata", "app_metadata") if include_app_metadata else ("user_metadata",)
    patch: dict[str, Any] = {}
    for kind in kinds:
        ours, theirs = _object(primary_user.get(kind)), _object(secondary_user.get(kind))
        merged = merge_metadata(ours, theirs, mode)
        changed = {key: value for key, value in merged.items() if ours.get(key, _ABSENT) != value}
        if changed:
            patch[kind] = changed
    return patch


_ABSENT = object()


def _copy(value: Any) -> Any:
    """A copy of JSON data; much faster than `copy.deepcopy`, which handles any object graph."""
    if isinstance(value, dict):  # JSON objects are dicts; an ABC check costs far more
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _object(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}
