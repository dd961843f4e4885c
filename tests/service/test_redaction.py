"""No token reaches a log line, whichever logger writes it and however the name is spelled."""

from __future__ import annotations

import logging

import httpx
import pytest
from uvicorn.logging import AccessFormatter

from linker.redaction import install_redaction, redact

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        ("/link/start?session_token=tok123&state=st456", ["tok123", "st456"], []),
        ("/link/start?session%5Ftoken=tok123&x=1", ["tok123"], ["x=1"]),
        ("/link/start?session%255Ftoken=tok123", ["tok123"], []),
        ("/link/start?%73ession_token=tok123", ["tok123"], []),
        ("/link/callback?code=c0de&state=st&error=access_denied", ["c0de"], ["error=access"]),
        ("/authorize?id_token_hint=h1nt&nonce=n0nce&prompt=login", ["h1nt", "n0nce"], ["prompt"]),
        ('{"commit_token": "x"} commit_token=c0mmit', ["c0mmit"], []),
        ("state=st456&session_token=tok123", ["st456", "tok123"], []),  # a form body
        (f"Bearer {TOKEN} in a header dump", [TOKEN], ["Bearer"]),
        ("/cb#access_token=0paque&token_type=Bearer", ["0paque"], ["token_type=Bearer"]),
    ],
)
def test_redact(text: str, gone: list[str], kept: list[str]) -> None:
    cleaned = redact(text)
    for value in gone:
        assert value not in cleaned
    for value in kept:
        assert value in cleaned
    assert "[redacted]" in cleaned


def test_records_of_any_logger_are_redacted_when_made(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction()
    caplog.set_level(logging.DEBUG)
    url = httpx.URL("http://127.0.0.2:8701/link/start?session%5Ftoken=tok123&state=st456")
    # httpx's own request line passes the URL as an object, not a string.
    logging.getLogger("httpx").info(
        'HTTP Request: %s %s "%s %d %s"', "GET", url, "HTTP/1.1", 302, ""
    )
    logging.getLogger("some.library").debug("headers %r", [(b"location", str(url).encode())])
    logging.getLogger("linker").info(f"a token inline: {TOKEN}")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "tok123" not in text and "st456" not in text and TOKEN not in text
    assert text.count("[redacted]") == 5


def test_uvicorns_access_formatter_still_works_on_redacted_records() -> None:
    install_redaction()
    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/link/callback?code=c0de&state=st456", "1.1", 200),
        None,
    )
    line = AccessFormatter(use_colors=False).format(record)
    assert "GET /link/callback?code=[redacted]&state=[redacted] HTTP/1.1" in line
