"""docs/testing.md is found from the README's first screen, and what it lists is what the
stack serves (its example project runs, from the built wheels, in tests/packaging)."""

from __future__ import annotations

import re
from pathlib import Path

from linker.devtenant import admin

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "testing.md"


def test_the_readme_links_the_guide_on_its_first_screen() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:30])
    assert "](docs/testing.md)" in first_screen


def test_the_guide_lists_every_admin_route() -> None:
    text = GUIDE.read_text()
    section = text[text.index("The admin routes steer the tenant") :]
    listed = {path.rstrip("/") for path in re.findall(r"/__admin/[a-z/]+", section)}
    served = {route.path.split("/{")[0] for route in admin.routes}
    assert served - listed == set()


def test_the_guides_files_are_python_that_compiles() -> None:
    files = re.findall(r"<!-- file: (\S+\.py) -->\n```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert {name for name, _ in files} == {
        "myapp.py",
        "conftest.py",
        "test_myapp.py",
        "spa/myspa.py",
        "spa/conftest.py",
        "spa/test_myspa.py",
    }
    for name, code in files:
        compile(code, name, "exec")
