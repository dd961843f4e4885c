"""One JSON format for every logger, and a request id on every line and response."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from linker.ops.logs import JsonFormatter, configure_logging, utc_milliseconds
from linker.ops.observability import log_event
from tests.support.harness import Harness


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged during the test, as the JSON handler of `configure_logging` writes it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    level, httpx_level = root.level, httpx_logger.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    httpx_logger.setLevel(logging.NOTSET)  # whatever an earlier `configure_logging` left
    yield out
    root.removeHandler(handler)
    root.setLevel(level)
    httpx_logger.setLevel(httpx_level)


def lines_of(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_every_logger_writes_the_same_json_shape(json_lines: io.StringIO) -> None:
    log_event("start", code="invalid_session_token", sub="google-oauth2|alice")
    logging.getLogger("hypercorn.error").warning("Started server process [%d]", 42)
    logging.getLogger("httpx").info("HTTP Request: GET %s", "http://tenant/authorize?nonce=n0")
    first, second, third = lines_of(json_lines)
    for line in (first, second, third):
        assert set(line) >= {"time", "level", "logger", "request_id"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", str(line["time"]))
    assert first["logger"] == "linker" and first["level"] == "info"
    assert first["event"] == "start" and first["code"] == "invalid_session_token"
    assert (second["logger"], second["level"]) == ("hypercorn.error", "warning")
    assert second["message"] == "Started server process [42]"
    assert third["message"] == "HTTP Request: GET http://tenant/authorize?nonce=[redacted]"


async def test_a_sane_incoming_request_id_is_kept_and_echoed(
    harness: Harness, json_lines: io.StringIO
) -> None:
    response = await harness.client.get(
        "/link/start",
        params={"session_token": "bad", "state": "s"},
        headers={"X-Request-Id": "req-1.a:b"},
    )
    assert response.headers["x-request-id"] == "req-1.a:b"
    start_lines = [line for line in lines_of(json_lines) if line.get("event") == "start"]
    assert start_lines and all(line["request_id"] == "req-1.a:b" for line in start_lines)


@pytest.mark.parametrize("incoming", [None, "", "has space", "x" * 129, "<script>"])
async def test_other_request_ids_are_replaced(harness: Harness, incoming: str | None) -> None:
    headers = {} if incoming is None else {"X-Request-Id": incoming}
    response = await harness.client.get("/healthz", headers=headers)
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_outside_a_request_there_is_no_request_id(json_lines: io.StringIO) -> None:
    log_event("merge_revert_failed", sub="x")
    assert lines_of(json_lines)[0]["request_id"] is None


def test_configure_logging_sends_uvicorn_through_the_json_handler() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    access = logging.getLogger("uvicorn.access")
    try:
        access.propagate = False
        configure_logging("debug")
        assert [type(h.formatter) for h in root.handlers] == [JsonFormatter]
        assert root.level == logging.DEBUG and access.propagate and not access.handlers
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def test_a_json_line_stays_json_when_a_token_sits_before_a_quote(json_lines: io.StringIO) -> None:
    logging.getLogger("some.server").info('"GET /link/callback?code=c0de&state=st"')
    (line,) = lines_of(json_lines)
    assert line["message"] == '"GET /link/callback?code=[redacted]&state=[redacted]"'


@pytest.mark.parametrize(("level", "shown"), [("info", False), ("debug", True)])
def test_httpx_request_lines_only_at_debug(level: str, shown: bool) -> None:
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    handlers, root_level, httpx_level = root.handlers[:], root.level, httpx_logger.level
    try:
        configure_logging(level)
        assert httpx_logger.isEnabledFor(logging.INFO) is shown
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)
        httpx_logger.setLevel(httpx_level)


def test_a_linker_line_reads_the_same_through_any_handler(json_lines: io.StringIO) -> None:
    """`log_event`'s fields go to the JSON handler as they are, and to a handler set up
    elsewhere (a plain `%(message)s` formatter) as the same redacted JSON object."""
    plain = io.StringIO()
    handler = logging.StreamHandler(plain)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("linker").addHandler(handler)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
    try:
        log_event("callback", status="linked", ms=1.5, note=f"id_token={jwt}", extra=jwt)
    finally:
        logging.getLogger("linker").removeHandler(handler)
    (line,) = lines_of(json_lines)
    elsewhere = json.loads(plain.getvalue())
    assert line["event"] == elsewhere["event"] == "callback"
    assert line["ms"] == elsewhere["ms"] == 1.5
    for seen in (line, elsewhere):
        assert seen["note"] == "id_token=[redacted]" and seen["extra"] == "[redacted]"
    assert jwt not in json_lines.getvalue() + plain.getvalue()


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False))
@example(1.9999995)  # rounds up into the next second
@example(3282928851.7629995)  # rounds up into the next millisecond
def test_line_times_read_as_datetime_writes_them(when: float) -> None:
    expected = datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")
    assert utc_milliseconds(when) == expected
