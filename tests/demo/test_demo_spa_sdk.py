"""Installing auth0-spa-js: the cache, a missing npm (a loud failure), a tampered package.

The real `npm pack` runs in the browser tests, which install into `.cache/` on first use.
"""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from linker.demo.spa_sdk import SpaSdkUnavailable, bundle_path, ensure_spa_sdk


def test_a_cached_bundle_is_used_without_npm(tmp_path: Path) -> None:
    cached = bundle_path(tmp_path)
    cached.parent.mkdir(parents=True)
    cached.write_text("/* cached */")
    assert ensure_spa_sdk(tmp_path, npm=str(tmp_path / "no-npm-here")) == cached


def test_without_npm_the_demo_stops_and_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(SpaSdkUnavailable, match=r"npm is needed .*make system-deps"):
        ensure_spa_sdk(tmp_path, npm="")


def test_a_failing_npm_is_reported(tmp_path: Path) -> None:
    npm = fake_npm(tmp_path, "echo 'npm error 404 Not Found' >&2; exit 1")
    with pytest.raises(SpaSdkUnavailable, match="404 Not Found"):
        ensure_spa_sdk(tmp_path / "cache", npm=str(npm))
    assert not bundle_path(tmp_path / "cache").exists()


def test_a_package_that_does_not_match_its_integrity_is_refused(tmp_path: Path) -> None:
    tarball = tmp_path / "auth0-spa-js.tgz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"window.auth0 = 'not the real thing';"
        info = tarfile.TarInfo("package/dist/auth0-spa-js.production.js")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    tarball.write_bytes(buffer.getvalue())
    npm = fake_npm(tmp_path, f'cp {tarball} "$6"/')  # argv: pack SPEC --ignore-scripts ...
    with pytest.raises(SpaSdkUnavailable, match="does not match its published integrity"):
        ensure_spa_sdk(tmp_path / "cache", npm=str(npm))
    assert not bundle_path(tmp_path / "cache").exists()


def fake_npm(directory: Path, body: str) -> Path:
    script = directory / "npm"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script
