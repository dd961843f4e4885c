"""The README's settings and error-code tables say what the code does, and its links (and
those of every Markdown file in the repository) stay inside the repository."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from linker.core.errors import Code
from linker.core.events import format_schedule
from linker.core.secret import Secret
from linker.environment import FILE_SUFFIX, SECRET_FILE_SETTINGS
from linker.settings import _REQUIRED, _TABLE

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The cells of the first table under `## heading` (header and rule left out)."""
    section = markdown.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def names_in(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def readme_settings() -> dict[str, str]:
    """Each setting named in the README's table, with its default column."""
    return {
        name: default
        for first, default, _ in table_rows(README.read_text(), "Settings")
        for name in names_in(first)
    }


def documented_default(value: Any) -> str:
    """How the README writes a setting's default."""
    if value is _REQUIRED:
        return "required"
    if isinstance(value, Secret):
        value = value.reveal()
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, frozenset) and not value:
        return "empty"
    if isinstance(value, tuple) and all(isinstance(v, int | float) for v in value):
        return f"`{format_schedule(value)}`"  # a schedule of waits
    if isinstance(value, int | float):
        return f"{value:g}"
    return f"`{value}`"


def test_every_setting_in_the_code_is_in_the_readme_table() -> None:
    documented = readme_settings()
    missing = [name for name, *_ in _TABLE if name not in documented]
    assert missing == []


def test_every_setting_in_the_readme_table_is_in_the_code() -> None:
    known = {name for name, *_ in _TABLE}
    assert [name for name in readme_settings() if name not in known] == []


@pytest.mark.parametrize(("name", "default"), [(row[0], row[3]) for row in _TABLE])
def test_the_readme_default_is_the_codes(name: str, default: Any) -> None:
    written = readme_settings()[name]
    expected = documented_default(default)
    if expected == "empty":  # an empty list reads "empty (all)" or "none" depending on use
        assert written in ("empty (all)", "none")
    else:
        assert written == expected


def test_the_readme_names_every_secret_file_variant() -> None:
    text = README.read_text()
    for name in SECRET_FILE_SETTINGS:
        assert f"`{name}{FILE_SUFFIX}`" in text


def readme_codes() -> list[str]:
    return [
        code
        for first, _ in table_rows(README.read_text(), "Error codes")
        for code in names_in(first)
    ]


def test_the_error_table_lists_every_code_once() -> None:
    codes = readme_codes()
    assert len(codes) == len(set(codes))
    assert sorted(set(codes) - {c.value for c in Code}) == []  # no code the service lacks
    assert sorted({c.value for c in Code} - set(codes)) == []  # no code left undocumented


def test_the_protocol_doc_lists_every_code() -> None:
    text = (ROOT / "docs" / "protocol.md").read_text()
    codes = [
        c
        for first, _ in table_rows(text.replace("### ", "## "), "Error codes")
        for c in names_in(first)
    ]
    assert sorted(codes) == sorted(c.value for c in Code)


MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def markdown_files() -> list[Path]:
    skip = {".venv", "node_modules", ".git"}
    return sorted(p for p in ROOT.rglob("*.md") if not skip & set(p.relative_to(ROOT).parts))


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(doc: Path) -> None:
    for target in MARKDOWN_LINK.findall(doc.read_text()):
        if target.startswith(("http://", "https://", "mailto:", "#")):
            continue
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name}: {target} leaves the repository"
        assert path.exists(), f"{doc.name}: {target} does not exist"


def test_no_doc_or_docstring_points_outside_the_repository() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in [*ROOT.glob("linker/**/*.py"), *markdown_files()]
        if "shared/design" in p.read_text()
    ]
    assert offenders == []
