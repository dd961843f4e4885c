"""No token reaches a log line, whichever logger writes it and however the name is spelled."""

from __future__ import annotations

import logging

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from uvicorn.logging import AccessFormatter

from linker.ops.logs import JsonLine
from linker.ops.observability import MAX_FIELD
from linker.ops.redaction import CUT, MAX_SCANNED, SENSITIVE_PARAMS, install_redaction, redact
from tests.support.harness import Harness

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


def test_a_placeholder_that_was_a_sensitive_value_is_redacted_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`log.info("exchanging code=%s", code)`: the redacted format no longer takes its
    argument, and logging's error report printed the argument raw on stderr."""
    install_redaction()
    logger = logging.getLogger("some.library.codes")
    logger.addHandler(handler := logging.StreamHandler())
    logger.propagate = False  # this handler only: others may hold streams earlier tests closed
    try:
        logger.warning("exchanging code=%s now", "SECRETC0DE")
        logger.warning("%(what)s state=%(state)s", {"what": "resuming", "state": "ST4TE"})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    err = capsys.readouterr().err
    assert "SECRETC0DE" not in err and "ST4TE" not in err and "Logging error" not in err
    # A mapping's value under a sensitive name is redacted as it is kept, whatever it looks
    # like: logging's own error report prints the arguments as they are.
    record = logging.getLogger("x").makeRecord(
        "x", logging.INFO, "f", 1, "%(state)s", ({"state": "ST4TE"},), None
    )
    assert record.args == {"state": "[redacted]"}
    assert "exchanging code=[redacted] now" in err and "resuming state=[redacted]" in err


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


# Adversarial text: the separators and fragments the scanner splits on, repeated.
_PIECES = ["(", "[", "=", "&", "?", "#", " ", '"', "%", "%5F", "a", "eyJ", ".", "eyJabcd.", "\\"]
_adversarial = st.lists(st.tuples(st.sampled_from(_PIECES), st.integers(1, 4000)), max_size=6).map(
    lambda runs: "".join(piece * n for piece, n in runs)
)
_LEADS = ["?", "&", "#", " ", '"', "'", "(", "[", "\n"]


@given(_adversarial, st.sampled_from(_LEADS), st.sampled_from(sorted(SENSITIVE_PARAMS)))
@example("(" * 20_000, "&", "state")
@example("a=" * 10_000, " ", "code")
@example("eyJ" * 20_000, "?", "code")
@example("eyJabcd." * 8_000, "?", "session_token")
@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=60)
def test_a_sensitive_value_is_redacted_whatever_surrounds_it(
    around: str, lead: str, name: str
) -> None:
    secret = "S3CRETvalue"
    text = f"{around}{lead}{name}={secret}&{around}"
    cleaned = redact(text)
    assert secret not in cleaned
    assert redact(cleaned) == cleaned  # nothing left to redact: a second pass changes nothing


@given(_adversarial, st.sampled_from([" ", "&", '"', "=", "(", ","]))
@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=60)
def test_a_jwt_is_redacted_whatever_surrounds_it(around: str, sep: str) -> None:
    text = f"{around}{sep}{TOKEN}{sep}{around}"
    assert TOKEN not in redact(text)


@given(_adversarial)
@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=60)
def test_text_with_no_pair_and_no_jwt_is_kept_as_it_is(around: str) -> None:
    text = around.replace("=", "-").replace("eyJ", "eyj")
    assert redact(text) == text


def test_a_long_record_is_cut_before_it_is_scanned(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction()
    caplog.set_level(logging.INFO)
    logging.getLogger("tests.redaction").info("%s", "/healthz?" + "(" * 64_000 + "&=x")
    (record,) = caplog.records
    message = record.getMessage()
    assert len(message) <= MAX_SCANNED + len(CUT)
    assert message.endswith(CUT)


def test_a_text_crowded_with_encoded_names_loses_every_value_after_one() -> None:
    text = "&".join([f"name%41{i}=v{i}" for i in range(100)] + ["session%5Ftoken=tok123"])
    cleaned = redact(text)
    assert "tok123" not in cleaned and "v7" not in cleaned
    few = redact("name%41=v1&session%5Ftoken=tok123")
    assert "tok123" not in few and "v1" in few  # a few are decoded and judged one by one


async def test_a_crafted_connection_is_logged_cut(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A signed-in user's app can ask for any connection name; the start step logs it, cut."""
    caplog.set_level(logging.INFO, logger="linker")
    crafted = "(" * 9_000 + "&=" + "x" * 100
    response = await harness.start(requested_connection=crafted)
    assert response.status_code == 302  # on to the tenant, which knows its connections
    fields = [r.msg.fields for r in caplog.records if isinstance(r.msg, JsonLine)]
    (start,) = [f for f in fields if f["event"] == "start"]
    assert start["connection"] == crafted[:MAX_FIELD] + CUT
