"""Redaction's worst cases, 64 KB each: `make bench`. Every log record is redacted when it is
made, on the event loop, so its cost on crafted text is what one request can hold the loop
for. The pattern this replaced took 0.4 s on 4 KB of `(` and 5.9 s on 16 KB; each case here
takes milliseconds, in time linear in the text's length."""

from __future__ import annotations

import io
import logging

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from linker.ops.logs import JsonFormatter
from linker.ops.redaction import install_redaction, redact

SIZE = 64 * 1024

WORST = {
    "open-parens-then-pair": "/healthz?" + "(" * SIZE + "&=",
    "pairs-without-end": "/x?" + "a=" * (SIZE // 2),
    "leads-before-a-name-letter": "(c" * (SIZE // 2) + "=x",
    "encoded-names": "%41%41=" * (SIZE // 7),
    "jwt-starts-without-dots": "eyJ" * (SIZE // 3),
    "jwt-starts-with-short-parts": "eyJabcd." * (SIZE // 8),
    "brackets-then-pair": "[" * SIZE + "=",
    "plain-query": "/link/start?" + "x=1&" * (SIZE // 4),
}


@pytest.mark.parametrize("case", sorted(WORST))
def test_redact_worst_case(benchmark: BenchmarkFixture, case: str) -> None:
    text = WORST[case]
    cleaned = benchmark(redact, text)
    assert len(cleaned) <= len(text) + 16


def test_a_64_kb_access_line_logged(benchmark: BenchmarkFixture) -> None:
    """uvicorn's access line for a 64 KB crafted query, made and written as `linker serve`
    writes it: the record factory's redaction and the JSON formatter's."""
    install_redaction()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("bench.access")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    query = WORST["open-parens-then-pair"]

    def log_line() -> None:
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", query, "1.1", 200)

    try:
        benchmark(log_line)
    finally:
        logger.removeHandler(handler)
    assert out.getvalue().count("\n") >= 1
