"""Every file or folder the docs name is in the repository.

Markdown links are checked by `test_readme.py`; this reads the plain-text mentions too
(`deploy/action/README.md`, `seed.json`, `PROTOCOL.md`) in the Markdown files, in the
docstrings and comments of `linker/` and `benchmarks/`, and in the comments of the shim,
the deployment files, the Makefile and the Dockerfile. A mention is found when it resolves
from the repository's root or from the mentioning file's folder, or, for a bare file name,
when some file of the repository has that name.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".git", ".venv", "node_modules", ".cache", "__pycache__", "build", "dist"}
SKIP |= {".mypy_cache", ".ruff_cache", ".pytest_cache", ".terraform"}
COMMENTED = (".js", ".mjs", ".yaml", ".yml", ".tf", ".sh", ".toml", ".conf")

# Named on purpose though not in the repository, each for its reason.
ELSEWHERE = {
    "linker-settings.json": "written by the operator from `terraform output`",
    "dist/auth0-spa-js.production.js": "a file of the auth0-spa-js npm package",
    "linker/action/": "the wheel's copy of the shim, made by hatch_build.py",
    "public_url/": "a URL built from a setting, not a path",
    "Node.js": "the JavaScript runtime's name, not a file",
    "wheels/": "the folder `pip wheel -w wheels` makes in the reader's checkout",
}
# docs/testing.md builds a project of the reader's own, outside this repository.
ELSEWHERE.update(
    dict.fromkeys(
        [
            "myapp.py",
            "test_myapp.py",
            "answer.json",
            "refused.json",
            "token.json",
            "spa/myspa.py",
            "spa/conftest.py",
            "spa/test_myspa.py",
        ],
        "a file of the reader's own project, which docs/testing.md writes out",
    )
)

_EXTENSIONS = "md|py|js|mjs|json|ya?ml|toml|tf|conf|txt|sh|html|css|cfg|ini"
# A path ending in a file name with a known extension, or a folder path ending in "/".
MENTION = re.compile(
    rf"(?<![\w/.:-])((?:\.{{1,2}}/)?(?:[\w.-]+/)*[\w-][\w.-]*\.(?:{_EXTENSIONS}))(?![\w/-])"
    r"|(?<![\w/.:-])((?:[\w.-]+/)+)(?=[\s`'\"),.;:]|$)"
)
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+")


def repository_files() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*")
        if path.is_file() and not SKIP & set(path.relative_to(ROOT).parts)
    )


FILES = repository_files()
NAMES = {path.name for path in FILES}


def _docstrings(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            text = ast.get_docstring(node)
            if text:
                found.append(text)
    return found


def _comments(source: str, *marks: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if line.strip().startswith(marks)]


def prose(path: Path) -> str:
    """The text of `path` that people read: all of a Markdown file, else docstrings and
    comments."""
    source = path.read_text()
    if path.suffix == ".md":
        return source
    if path.suffix == ".py":
        return "\n".join(_docstrings(source) + _comments(source, "#"))
    if path.suffix in (".js", ".mjs"):
        return "\n".join(_comments(source, "//", "*", "/*"))
    return "\n".join(_comments(source, "#"))


def documents() -> list[Path]:
    def read_by_people(path: Path) -> bool:
        relative = path.relative_to(ROOT)
        top = relative.parts[0]
        if top == "tests":
            return False
        if path.suffix == ".md":
            return True
        if path.suffix == ".py":
            return top in ("linker", "benchmarks")
        return path.suffix in COMMENTED or path.name in ("Makefile", "Dockerfile")

    return [path for path in FILES if read_by_people(path)]


def missing_mentions(path: Path, text: str) -> list[str]:
    missing = []
    for found in MENTION.finditer(URL.sub("", text)):
        mention = found[1] or found[2]
        if re.sub(r"^(\.\.?/)+", "", mention) in ELSEWHERE:
            continue
        target = mention.rstrip("/")
        here = [ROOT / target, path.parent / target]
        if any(candidate.exists() for candidate in here):
            continue
        if "/" not in target and target in NAMES:
            continue
        missing.append(mention)
    return missing


@pytest.mark.parametrize("doc", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_a_doc_mentions_exists(doc: Path) -> None:
    assert missing_mentions(doc, prose(doc)) == []


def test_a_mention_of_a_missing_file_is_found() -> None:
    doc = ROOT / "deploy" / "action" / "README.md"
    text = "as described in `PROTOCOL.md` (section 1), in deploy/action/ and docs/nowhere.md"
    assert missing_mentions(doc, text) == ["PROTOCOL.md", "docs/nowhere.md"]
    assert missing_mentions(doc, "see https://example.com/PROTOCOL.md and README.md") == []


def test_every_reason_to_name_a_file_elsewhere_is_still_used() -> None:
    texts = "\n".join(prose(doc) for doc in documents())
    assert [name for name in ELSEWHERE if name not in texts] == []
