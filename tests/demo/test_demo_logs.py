"""A full `linker demo --log-level debug` run: no token in any log line, and every line JSON.

The browser records every token it carries (session and result tokens, codes, states,
nonces, ID token hints, in URLs and in auto-POST forms); none of them, and nothing shaped
like a JWT, may appear in what the three servers log, uvicorn's access lines and httpx's and
httpcore's debug lines included.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from linker.ops.redaction import SENSITIVE_PARAMS
from linker.testing import ScriptedBrowser
from tests.demo.demo_servers import FREE_PORTS

pytestmark = pytest.mark.e2e

JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class RecordingBrowser(ScriptedBrowser):
    """Remembers every token-bearing value it sends or is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def record(self) -> None:
        for line in self.history:
            url = line.split(" ", 1)[1]
            self.tokens |= {v for k, v in parse_qsl(urlsplit(url).query) if k in SENSITIVE_PARAMS}
        for form in self.forms:
            self.tokens |= {v for k, v in form.fields.items() if k in SENSITIVE_PARAMS}


def sign_in(browser: RecordingBrowser, app: str, user_id: str) -> None:
    browser.get(app + "/login")
    browser.submit(browser.form_with(connection=user_id.split("|")[0]))
    browser.record()
    browser.submit(browser.form_with(user_id=user_id))
    browser.record()


def test_a_debug_run_logs_no_token(tmp_path: Path) -> None:
    log_file = tmp_path / "demo.log"
    with log_file.open("w") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "linker", "demo", "--log-level", "debug", *FREE_PORTS],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            assert demo.stdout is not None
            found = re.fullmatch(r"Open (\S+) and sign in\n", demo.stdout.readline())
            assert found, log_file.read_text()[-2000:]
            app = found[1]
            with RecordingBrowser() as browser:
                sign_in(browser, app, "google-oauth2|alice")
                browser.submit(browser.form_saying("Link GitHub"))
                browser.record()
                browser.submit(browser.form_with(user_id="github|1001"))
                browser.record()
                browser.submit(browser.form_with(choice="link"))  # the account shown: Link
                browser.record()
                page = browser.auto_submit()
                browser.record()
                assert "Linked: github (github|1001)" in page.text
            with RecordingBrowser() as other:
                sign_in(other, app, "google-oauth2|frank")
                other.submit(other.form_saying("Unlink"))
                other.record()
                other.submit(other.form_with(user_id="google-oauth2|frank"))
                other.record()
                page = other.auto_submit()
                other.record()
                assert "Unlinked: github (github|1004)" in page.text
        finally:
            demo.terminate()
            demo.communicate(timeout=30)
    tokens = {t for t in browser.tokens | other.tokens if len(t) >= 8}
    assert len([t for t in tokens if JWT.fullmatch(t)]) >= 4  # session and result tokens, hints
    assert len(tokens) >= 12

    lines = log_file.read_text().splitlines()
    assert len(lines) > 100  # debug: uvicorn, httpx and httpcore all spoke
    text = "\n".join(lines)
    assert "[redacted]" in text
    leaked = sorted(t[:12] for t in tokens if t in text)
    assert leaked == []
    assert JWT.findall(text) == []
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "request_id"} <= set(record)
