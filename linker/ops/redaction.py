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

# Every pattern below looks at each character a bounded number of times, so no input can make
# redaction slow: the pattern this replaces (a name followed by `=`, retried from every `(` of
# a long run) froze the event loop for seconds on one crafted query string. Each pattern is
# anchored by a one-character look-behind (a start inside a name fails at once) and consumes
# with possessive quantifiers (nothing is given back to be tried again).
#
# name=value in a query string, a fragment or a form body. A name starts at the text's start or
# after a lead (`?`, `&`, `#`, whitespace, a quote, `(`, `[`, `=`, `<`, `>` or a backslash); a
# value ends at a space, a quote, `&`, `#`, `<`, `>` or a backslash (in an already JSON-encoded
# line it escapes the next quote). A sensitive name's value is redacted to where it ends.
_LEAD = r"?&#\s\"'(\[=<>\\"
_END = r"&#\s\"'<>\\"
_FIRST = "".join(sorted({name[0] for name in SENSITIVE_PARAMS}))  # a quick "no" for the rest
_NAMED = re.compile(
    rf"(?:^|(?<=[{_LEAD}]))(?=[{_FIRST}])(?:{'|'.join(sorted(SENSITIVE_PARAMS))})=(?=[^{_END}])",
    re.IGNORECASE | re.ASCII,
)
# Names with a `%XX` in them, to be percent-decoded and looked at again (`session%5Ftoken`): six
# characters at least, as the shortest sensitive name with one character encoded (`%63ode`).
_ENCODED = re.compile(
    rf"(?:^|(?<=[{_LEAD}]))(?=[^{_LEAD}]{{6}})[^{_LEAD}%]*+%[0-9A-Fa-f]{{2}}[^{_LEAD}]*+="
    rf"(?=[^{_END}])"
)
_VALUE_END = re.compile(rf"[{_END}]")
# Where a JWT may be: runs of base64url characters and dots (a greedy class and nothing after
# it, so each character is looked at once).
_B64_RUN = re.compile(r"[A-Za-z0-9_.-]{11,}")
# A log record's message and each argument are scanned up to this many characters; the rest is
# cut (marked) rather than scanned or printed. Logged fields are cut far shorter at the source.
MAX_SCANNED = 8192
CUT = "…[cut]"
# Decoding a name costs microseconds: past this many encoded names in one text, each of their
# values is redacted without looking (no real URL or form has so many).
MAX_DECODED = 32
# No spelling of a sensitive name is longer: 19 characters, each percent-encoded three times.
MAX_NAME = 19 * 7


def _plain_name(name: str) -> str:
    """The parameter name as a server would read it: percent-decoded (twice over, to catch
    double encoding) and lower-cased."""
    for _ in range(3):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return name.lower()


def _encoded_sensitive(name: str) -> bool:
    """A percent-encoded name that decodes to a sensitive one (or ends in one, after a lead
    that was encoded too, as `x%26code`)."""
    if len(name) > MAX_NAME:
        return False
    plain = _plain_name(name)
    cut = max(plain.rfind(lead) for lead in "?&#([= \"'")
    return plain[cut + 1 :] in SENSITIVE_PARAMS


def _value_starts(text: str) -> list[int]:
    """Where each sensitive parameter's value starts, in order."""
    starts = [match.end() for match in _NAMED.finditer(text)]
    if "%" in text:
        encoded = list(_ENCODED.finditer(text))
        if len(encoded) > MAX_DECODED:  # crafted: every such value goes, none is decoded
            starts += [match.end() for match in encoded]
        else:
            starts += [m.end() for m in encoded if _encoded_sensitive(m[0][:-1])]
        starts.sort()
    return starts


def _redact_pairs(text: str) -> str:
    parts: list[str] = []
    done = 0
    for start in _value_starts(text):
        if start < done:  # inside a value already redacted
            continue
        end = _VALUE_END.search(text, start)
        parts += (text[done:start], REDACTED)
        done = end.start() if end else len(text)
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def _jwt_end(run: str, at: int) -> int:
    """Where a JWT that starts at `run[at]` ("eyJ") ends, or -1: two parts of at least four
    characters after `eyJ` and one, each followed by a dot, then the signature."""
    first = run.find(".", at)
    if first < 0 or first - at < 7:
        return -1
    second = run.find(".", first + 1)
    if second < 0 or second - first - 1 < 4:
        return -1
    end = run.find(".", second + 1)
    return len(run) if end < 0 else end


def _redact_jwts(text: str) -> str:
    parts: list[str] = []
    done = 0
    for match in _B64_RUN.finditer(text):
        run = match[0]
        at = run.find("eyJ")
        cleaned: list[str] = []
        kept = 0
        while at >= 0:
            end = _jwt_end(run, at)
            if end < 0:
                # No JWT starts here, nor at any later `eyJ` of the same part: go past its dot.
                dot = run.find(".", at)
                if dot < 0:
                    break
                at = run.find("eyJ", dot + 1)
                continue
            cleaned += (run[kept:at], REDACTED)
            kept = end
            at = run.find("eyJ", end)
        if cleaned:
            parts += (text[done : match.start()], *cleaned, run[kept:])
            done = match.end()
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def redact(text: str) -> str:
    """`text` with the values of token-bearing parameters and any JWT replaced; in time
    linear in its length."""
    if "=" in text:
        text = _redact_pairs(text)
    if "eyJ" in text:
        text = _redact_jwts(text)
    return text


def bounded(text: str, limit: int = MAX_SCANNED) -> str:
    """`text` cut to `limit` characters (marked), for a log line that must stay short."""
    return text if len(text) <= limit else text[:limit] + CUT


def redact_url(path: str) -> str:
    """`path?query` with the values of token-bearing parameters replaced by `[redacted]`."""
    return redact(path)


def _redact_arg(arg: Any) -> Any:
    if isinstance(arg, str):
        return redact(bounded(arg))
    if isinstance(arg, int | float | bool) or arg is None:
        return arg
    # URLs, headers and other objects: judged by how they would be printed.
    text = str(arg)
    cleaned = redact(bounded(text))
    return arg if cleaned == text else cleaned


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record's message and arguments in place, keeping their shape (uvicorn's
    access formatter unpacks `args` as a tuple). A format string whose placeholder was the
    value of a sensitive name (`"code=%s"`) no longer takes its arguments once redacted: the
    message is then made whole and redacted as one, rather than left for logging to print
    the raw arguments in its error report."""
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_arg(arg) for arg in record.args)
    elif isinstance(record.args, dict):
        record.args = {
            key: REDACTED if _plain_name(str(key)) in SENSITIVE_PARAMS else _redact_arg(value)
            for key, value in record.args.items()
        }
    if isinstance(record.msg, str):
        original = record.msg
        record.msg = redact(bounded(original))
        if record.args and record.msg != original:
            try:
                record.msg % record.args  # does it still take them?
            except (TypeError, ValueError, KeyError):
                try:
                    whole = original % record.args
                except (TypeError, ValueError, KeyError):
                    return  # a format that never took them: logging reports it, redacted
                record.msg, record.args = redact(bounded(whole)), None


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
