"""Structured log lines and Prometheus counters.

Log lines carry codes, `sub`, client ids, connections, timings and token `jti`s: never a
token, a code, a cookie or a secret.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from typing import ClassVar

log = logging.getLogger("linker")


def log_event(event: str, **fields: object) -> None:
    """One JSON line on the `linker` logger; `None` fields are left out."""
    record = {"event": event, **{k: v for k, v in fields.items() if v is not None}}
    log.info(json.dumps(record, sort_keys=True, default=str))


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(labels.items())
    )
    return "{" + inner + "}"


class Metrics:
    """Counters and duration sums, rendered in the Prometheus text format."""

    _HELP: ClassVar[dict[str, str]] = {
        "linker_requests_total": "Finished /link/start and /link/callback requests by outcome.",
        "linker_request_seconds": "Time spent in /link/start and /link/callback.",
        "linker_upstream_attempts_total": "Attempts at calls to the tenant by outcome.",
    }

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._sums: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}

    def count(self, name: str, **labels: str) -> None:
        self._counts[(name, tuple(sorted(labels.items())))] += 1

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        self._sums[key] = self._sums.get(key, 0.0) + seconds
        self._counts[(name + "_count", key[1])] += 1

    def render(self) -> str:
        lines: list[str] = []
        for name, help_text in self._HELP.items():
            kind = "summary" if name.endswith("_seconds") else "counter"
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            for (metric, labels), value in sorted(self._sums.items()):
                if metric == name:
                    lines.append(f"{name}_sum{_labels(dict(labels))} {value:.6f}")
            for (metric, labels), value in sorted(self._counts.items()):
                if metric == name or metric == name + "_count":
                    lines.append(f"{metric}{_labels(dict(labels))} {value}")
        return "\n".join(lines) + "\n"


SENSITIVE_PARAMS = frozenset({"session_token", "code", "state", "id_token_hint", "nonce"})


def redact_url(path: str) -> str:
    """`path?query` with the values of token-bearing parameters replaced by `[redacted]`."""
    base, sep, query = path.partition("?")
    if not sep:
        return path
    parts = []
    for pair in query.split("&"):
        name, eq, _ = pair.partition("=")
        parts.append(f"{name}=[redacted]" if eq and name in SENSITIVE_PARAMS else pair)
    return f"{base}?{'&'.join(parts)}"


class RedactQueryFilter(logging.Filter):
    """Keeps session tokens, codes and states out of uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(a) if isinstance(a, str) else a for a in record.args)
        return True
