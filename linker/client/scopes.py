"""Scope lists: callers may pass `"a b"` or `["a", "b"]`; the wire wants `"a b"`."""

from __future__ import annotations

from collections.abc import Iterable

ScopeInput = str | Iterable[str] | None


def scope_tuple(value: ScopeInput) -> tuple[str, ...]:
    """The scopes in `value`, split on whitespace, without duplicates, in their first order."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(scope for item in items for scope in item.split()))
