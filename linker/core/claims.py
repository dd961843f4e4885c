"""Checks on decoded JSON claims that every token reader shares.

A token with a valid signature is still attacker-shaped data when the signer is an Action or a
tenant we do not control: times may be NaN, Infinity or strings, objects may nest a thousand
levels deep. These checks turn such shapes into a refusal instead of an exception.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any

from linker.core.errors import Signal

# Clock skew tolerated between linker's replicas, the tenant and the Action, in seconds, where
# tolerating it costs no safety: the expiry, issue and not-before times of tokens that are
# single-use or bound to one attempt (RFC 7519 4.1.4 allows "a small leeway, usually no more
# than a few minutes"). NTP fails more often than anyone plans.
LEEWAY = 300
# Where a wider leeway would weaken a check: the nested login's `auth_time` must follow the
# transaction's start. Beyond it, a host's offset from the store's clock is warned about, and
# a refusal that time decided is answered as a retryable `failed` (`linker.state.store_clock`).
STRICT_LEEWAY = 30

# Deeper JSON than this is refused before any code walks it recursively (merge, copy).
MAX_JSON_DEPTH = 32


class BadClaim(Signal, ValueError):
    """A claim is missing or has the wrong shape; the message names it, never its value."""


class BadTime(BadClaim):
    """A time claim (`exp`, `iat`, `nbf`, an age) refused against `now`: a refusal a clock
    that is off could have made."""


def finite_number(claims: Mapping[str, Any], name: str) -> float:
    """A numeric claim as a float: booleans, strings, NaN and the infinities are refused."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadClaim(f"'{name}' is missing or not a number")
    try:
        number = float(value)
    except OverflowError:  # an integer past any float: no time or number of ours
        raise BadClaim(f"'{name}' is not a finite number") from None
    if not math.isfinite(number):
        raise BadClaim(f"'{name}' is not a finite number")
    return number


def optional_number(claims: Mapping[str, Any], name: str) -> float | None:
    """Like `finite_number`, for a claim that may be absent (`nbf`, `auth_time`)."""
    return None if claims.get(name) is None else finite_number(claims, name)


def json_depth_ok(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `value` nests objects and arrays at most `limit` levels deep.

    Iterative, so that a hostile document cannot exhaust the interpreter's stack here either.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def json_object(content: bytes | str) -> dict[str, Any]:
    """A response body as a JSON object, or `{}` when it is anything else (HTML, a list, junk,
    nesting deeper than the parser goes). Only for reading what an answer says of itself (an
    error's message, a token's fields, each then checked); never to stand in for a record."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def unverified_segment(token: str, index: int) -> dict[str, Any] | None:
    """Segment `index` of a compact JWS (0 the header, 1 the payload) as a JSON object, with
    no signature check: only for what picks or reports (a key id, granted scopes), never for
    a trust decision. None when the token has no such segment or it is not a JSON object."""
    parts = token.split(".", index + 1)
    if len(parts) <= index:
        return None
    segment = parts[index]
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
