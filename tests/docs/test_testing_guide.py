"""docs/testing.md is found from the README's first screen, and what it lists is what the
stack serves (its example project runs, from the built wheels, in tests/packaging)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from linker import Settings
from linker.devtenant import admin
from linker.testing import StackConfig
from linker.testing.stack import stack_env

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "testing.md"


def test_the_readme_links_the_guide_on_its_first_screen() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:30])
    assert "](docs/testing.md)" in first_screen


def test_the_guide_lists_every_admin_route() -> None:
    text = GUIDE.read_text()
    section = text[text.index("The admin routes steer the tenant") :]
    listed = {path.rstrip("/") for path in re.findall(r"/__admin/[a-z/-]+", section)}
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


def test_the_guides_json_configuration_is_one_the_stack_serves(tmp_path: Path) -> None:
    text = GUIDE.read_text()
    section = text[text.index("every key optional:") :]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block is not None
    config = StackConfig.from_json(json.loads(block[1]))
    assert config.allowed_clients == ("my-app",)
    assert "github|ann" in config.seed.user_ids
    env = stack_env(config, "http://localhost:1", "http://127.0.0.1:2", tmp_path / "audit")
    settings = Settings.from_env(env)  # every setting it names is one linker takes
    assert settings.require_same_email and settings.metadata_merge == "secondary-wins"
