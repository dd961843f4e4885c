"""The single-page app of docs/testing.md, as the guide shows it, signs in and links in
Chromium against the stack (run by pytest in a subprocess, as its own project)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.demo.chromium import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "testing.md"

# This machine's Chromium (Debian's, run as root, on a closed network) in place of the one
# `playwright install` would download: the guide's code itself is left as written.
SYSTEM_CHROMIUM = f"""

from playwright.sync_api import BrowserType

_launch = BrowserType.launch


def _system_chromium(self, **options):
    options.setdefault("executable_path", {CHROMIUM!r})
    options.setdefault("args", {CHROMIUM_ARGS!r})
    return _launch(self, **options)


BrowserType.launch = _system_chromium
"""


def test_the_guides_single_page_app_links_in_chromium(pytester: pytest.Pytester) -> None:
    found = re.findall(r"<!-- file: spa/(\S+) -->\n```\w*\n(.*?)```", GUIDE.read_text(), re.S)
    files = dict(found)
    assert set(files) == {"myspa.py", "conftest.py", "test_myspa.py"}
    for name, text in files.items():
        extra = SYSTEM_CHROMIUM if name == "conftest.py" else ""
        (pytester.path / name).write_text(text + extra)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(passed=1)
