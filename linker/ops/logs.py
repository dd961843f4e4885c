"""One log format for every logger: a JSON object per line, with the request it belongs to.

Each line has `time`, `level`, `logger` and `request_id`; linker's own lines (whose message
is a `JsonLine`, see `log_event`, or any JSON object) add their event fields, everyone
else's (uvicorn, httpx) add `message`. The request id comes from `incoming_request_id`: a
sane incoming `X-Request-Id` is kept so that ids can be followed across proxies, anything
else is replaced, and the response echoes it (`linker.web.edge`).
"""

from __future__ import annotations

import json
import logging
import logging.config
import math
import re
import secrets
import time
from contextvars import ContextVar
from typing import Any

from starlette.types import Scope

from linker.ops.redaction import install_redaction, redact

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_BYTES = REQUEST_ID_HEADER.lower().encode("ascii")  # as ASGI names headers
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
request_id: ContextVar[str | None] = ContextVar("linker_request_id", default=None)


# Made once: `json.dumps` with any option builds a new encoder on every call.
_ENCODER = json.JSONEncoder(default=str)


class JsonLine:
    """A log message that is a JSON object: its fields are kept as they are, and made text
    only when a handler prints them (`JsonFormatter` reads the fields without parsing)."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def __str__(self) -> str:
        return redact(json.dumps(self.fields, sort_keys=True, default=str))


class JsonFormatter(logging.Formatter):
    """A JSON object per record; the line is redacted as a last guard (exception texts are
    made only here, long after the record)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": utc_milliseconds(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": request_id.get(),
        }
        if isinstance(record.msg, JsonLine) and not record.args:
            fields: dict[str, Any] | None = record.msg.fields
        else:
            message = record.getMessage()
            fields = _json_object(message)
            if fields is None:
                line["message"] = message
        if fields is not None:
            # The line's own keys keep their place and their values.
            line = {**line, **fields} | line
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(_ENCODER.encode(line))


_stamp: tuple[int, str] = (0, "1970-01-01T00:00:00")


def utc_milliseconds(when: float) -> str:
    """`when` as ISO 8601 in UTC to the millisecond, as `datetime.isoformat` writes it; the
    date and time to the second are made once per second, not once per line."""
    global _stamp
    second = math.floor(when)
    micro = round((when - second) * 1_000_000)  # as datetime rounds: half to even
    if micro >= 1_000_000:
        second, micro = second + 1, micro - 1_000_000
    if _stamp[0] != second:
        _stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_stamp[1]}.{micro // 1000:03d}+00:00"


def _json_object(message: str) -> dict[str, Any] | None:
    if not message.startswith("{"):
        return None
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr for every logger, uvicorn's included (run it with
    `log_config=None` so that it keeps this configuration)."""
    install_redaction()
    logging.config.dictConfig(logging_config(level))


def logging_config(level: str = "info") -> dict[str, Any]:
    """`configure_logging` as a `logging.config.dictConfig` dictionary: uvicorn applies it in
    each worker process it starts (`log_config=`). The app installs the redaction itself."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            **{
                name: {"handlers": [], "propagate": True}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
            },
            # httpx logs every request at info: a line per call to the tenant, for debugging.
            "httpx": {"level": "DEBUG" if level.lower() == "debug" else "WARNING"},
        },
    }


def incoming_request_id(scope: Scope) -> str:
    """The request's id: its sane `X-Request-Id`, so that ids can be followed across proxies,
    or a new one (`linker.web.edge` sets it for the request and echoes it)."""
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_BYTES:
            text = value.decode("latin-1")
            return text if _SANE_ID.fullmatch(text) else secrets.token_hex(16)
    return secrets.token_hex(16)
