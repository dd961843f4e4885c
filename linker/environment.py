"""Where settings come from before they are parsed: the process, a `.env` file, secret files.

Containers and orchestrators hand secrets over as files (Docker and Kubernetes secrets), so
each secret setting also has a `*_FILE` variant naming a file that holds the value. Giving a
setting and its `*_FILE` at once is an error: silently preferring one would hide a mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values

# Settings whose value may come from a file instead of the environment.
SECRET_FILE_SETTINGS = (
    "LINKER_CLIENT_SECRET",
    "LINKER_ACTION_SECRETS",
    "LINKER_STORE_URL",
    "LINKER_EVENTS_SECRET",
)
FILE_SUFFIX = "_FILE"


def read_dotenv(path: Path) -> dict[str, str]:
    """A `.env` file's `KEY=value` pairs (python-dotenv's syntax: quotes, `export`, and
    inline `# comments`, which are not part of the value). Keys without a value are left out."""
    if not path.is_file():
        return {}
    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def resolve_secret_files(env: Mapping[str, str]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """`env` with each `LINKER_X_FILE` replaced by `LINKER_X` read from that file, and the
    problems found as `(setting, problem)` pairs. Messages never include a secret's value."""
    resolved = dict(env)
    problems: list[tuple[str, str]] = []
    for name in SECRET_FILE_SETTINGS:
        file_name = name + FILE_SUFFIX
        path = resolved.pop(file_name, "").strip()
        if not path:
            continue
        if resolved.get(name, "").strip():
            problems.append((name, f"is given twice: set {name} or {file_name}, not both"))
            continue
        try:
            # Files written by editors and secret stores usually end with a newline.
            resolved[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append((file_name, f"cannot read {path} ({type(exc).__name__})"))
    return resolved, problems
