"""Keeps tokens out of every log line the process writes, whoever writes it.

Start URLs carry a session token, callback URLs a code and a state, a resume posts a result
token; uvicorn's access log, httpx's request log and httpcore's header dumps would print them
whole. Rather than trusting each server's or library's logging configuration, the app installs
a log-record factory: every record, from any logger, is redacted when it is made, before any
handler or formatter sees it. Parameter names are compared after percent-decoding, so
`session%5Ftoken=...` is caught too, and anything shaped like a JWT is redacted wherever it is.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

# The protocol's token-bearing parameters, and OAuth's own for good measure.
SENSITIVE_PARAMS = frozenset(
    {"session_token", "code", "state", "id_token_hint", "nonce", "commit_token"}
    | {"id_token", "access_token", "refresh_token", "subject_token", "code_verifier"}
    | {"client_secret", "client_assertion"}
)
REDACTED = "[redacted]"

# name=value in a query string, a fragment or a form body: after ?, #, &, the start, a space
# or a quote.
# A backslash ends a value too: in an already JSON-encoded line it escapes the next quote.
_PAIR = re.compile(
    r"(?P<lead>^|[?#&\s\"'(\[])(?P<name>[^=&?#\s\"'<>\\]+)=(?P<value>[^&#\s\"'<>\\]*)"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def _plain_name(name: str) -> str:
    """The parameter name as a server would read it: percent-decoded (twice over, to catch
    double encoding) and lower-cased."""
    for _ in range(3):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return name.lower()


def _pair(match: re.Match[str]) -> str:
    if _plain_name(match["name"]) not in SENSITIVE_PARAMS or not match["value"]:
        return match[0]
    return f"{match['lead']}{match['name']}={REDACTED}"


def redact(text: str) -> str:
    """`text` with the values of token-bearing parameters and any JWT replaced."""
    if "=" in text:
        text = _PAIR.sub(_pair, text)
    return _JWT.sub(REDACTED, text)


def redact_url(path: str) -> str:
    """`path?query` with the values of token-bearing parameters replaced by `[redacted]`."""
    return redact(path)


def _redact_arg(arg: Any) -> Any:
    if isinstance(arg, str):
        return redact(arg)
    if isinstance(arg, int | float | bool) or arg is None:
        return arg
    # URLs, headers and other objects: judged by how they would be printed.
    text = str(arg)
    cleaned = redact(text)
    return arg if cleaned == text else cleaned


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record's message and arguments in place, keeping their shape (uvicorn's
    access formatter unpacks `args` as a tuple)."""
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_arg(arg) for arg in record.args)
    elif isinstance(record.args, dict):
        record.args = {key: _redact_arg(value) for key, value in record.args.items()}


class RedactQueryFilter(logging.Filter):
    """The same redaction as a logging filter, for handlers set up outside linker."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed: list[Callable[..., logging.LogRecord]] = []


def install_redaction() -> None:
    """Redact every log record made in this process from now on (idempotent)."""
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed.append(factory)
