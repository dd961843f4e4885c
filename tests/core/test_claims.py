"""linker.core.claims: attacker-shaped claims become refusals, never exceptions."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linker.core.claims import (
    MAX_JSON_DEPTH,
    BadClaim,
    finite_number,
    json_depth_ok,
    json_object,
    optional_number,
    unverified_segment,
)


@pytest.mark.parametrize("value", [1, 1.5, 0])
def test_a_number_reads_as_a_float(value: float) -> None:
    assert finite_number({"exp": value}, "exp") == float(value)


@pytest.mark.parametrize("value", [None, True, "1", float("nan"), float("inf"), [1]])
def test_anything_else_is_a_bad_claim_that_names_the_claim_only(value: Any) -> None:
    with pytest.raises(BadClaim, match="'exp'") as bad:
        finite_number({"exp": value}, "exp")
    assert repr(value) not in str(bad.value) or value is None


def test_an_optional_number_may_be_absent() -> None:
    assert optional_number({}, "nbf") is None
    assert optional_number({"nbf": 3}, "nbf") == 3.0
    with pytest.raises(BadClaim):
        optional_number({"nbf": "3"}, "nbf")


def nested(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


def test_depth_is_counted_for_objects_and_arrays() -> None:
    assert json_depth_ok(nested(MAX_JSON_DEPTH))
    assert not json_depth_ok(nested(MAX_JSON_DEPTH + 1))
    assert json_depth_ok(nested(100_000), limit=100_001)  # iterative: no recursion limit


@pytest.mark.parametrize(
    ("body", "expected"),
    [(b'{"a": 1}', {"a": 1}), (b"[1]", {}), (b"<html>", {}), ("", {}), (b"\xff", {})],
)
def test_a_body_is_a_json_object_or_empty(body: bytes | str, expected: dict[str, Any]) -> None:
    assert json_object(body) == expected


def segment(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_a_segment_is_read_without_a_signature_check() -> None:
    token = f"{segment({'kid': 'k'})}.{segment({'scope': 'a b'})}.sig"
    assert unverified_segment(token, 0) == {"kid": "k"}
    assert unverified_segment(token, 1) == {"scope": "a b"}
    assert unverified_segment("only-one", 1) is None
    assert unverified_segment(f"{segment([1])}.x", 0) is None


@given(st.text(max_size=200), st.integers(min_value=0, max_value=2))
def test_no_token_makes_the_segment_reader_raise(token: str, index: int) -> None:
    found = unverified_segment(token, index)
    assert found is None or isinstance(found, dict)
