"""linker.core.secret: a secret never shows itself, and compares by value."""

from __future__ import annotations

import logging

import pytest

from linker.core.secret import Secret


def test_a_secret_hides_in_repr_str_and_formatting(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("hunter2-hunter2")
    logging.getLogger("test").warning("settings: %s %r %s", secret, secret, [secret])
    assert "hunter2" not in caplog.text
    assert "hunter2" not in f"{secret} {secret!r}"
    assert secret.reveal() == "hunter2-hunter2"


def test_secrets_compare_and_hash_by_value() -> None:
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a")}) == 1
