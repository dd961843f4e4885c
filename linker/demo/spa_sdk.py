"""The real `@auth0/auth0-spa-js`, fetched from npm into a cache directory and served locally.

The single-page sample runs the SDK exactly as published: `npm pack` fetches the pinned
version's tarball, its sha512 is checked against the integrity the registry published for
it, and only the self-contained browser bundle (`dist/auth0-spa-js.production.js`, which
defines `window.auth0`) is kept. No CDN, and nothing runs at install time. Without npm the
demo stops with a message that says how to get it: it never quietly leaves the sample out.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@auth0/auth0-spa-js"
VERSION = "2.27.0"
# `npm view @auth0/auth0-spa-js@2.27.0 dist.integrity`
INTEGRITY = (
    "sha512-E9U4v9IiowT+z26PQYT55ZAU5J1feyEV9umVX+lvnaHl43E3Gv"
    "GVsTrfukhPLLWnoCRItWa2TxVQ3Svj1S4qyA=="
)
BUNDLE = "package/dist/auth0-spa-js.production.js"
BUNDLE_NAME = "auth0-spa-js.production.js"
NPM_TIMEOUT = 180.0


class SpaSdkUnavailable(RuntimeError):
    """auth0-spa-js could not be installed; the message says why and what to do."""


def default_cache_dir() -> Path:
    """`<repo>/.cache` in a checkout (git-ignored), else the user's cache directory;
    `LINKER_DEMO_CACHE` overrides both."""
    override = os.environ.get("LINKER_DEMO_CACHE")
    if override:
        return Path(override)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file():
        return repo / ".cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "linker"


def bundle_path(cache_dir: Path) -> Path:
    return cache_dir / f"auth0-spa-js-{VERSION}" / BUNDLE_NAME


def ensure_spa_sdk(cache_dir: Path | None = None, *, npm: str | None = None) -> Path:
    """The path of the SDK's browser bundle, installing it first when the cache lacks it."""
    target = bundle_path(cache_dir or default_cache_dir())
    if target.is_file():
        return target
    tarball = _npm_pack(npm if npm is not None else shutil.which("npm"))
    _check_integrity(tarball)
    bundle = _extract_bundle(tarball)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed: a reader never sees half a file.
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
        tmp.write(bundle)
    Path(tmp.name).replace(target)
    return target


def _npm_pack(npm: str | None) -> bytes:
    if not npm:
        raise SpaSdkUnavailable(
            f"npm is needed to install {PACKAGE} for the single-page sample "
            "(`make system-deps` installs it, or `apt-get install npm`)"
        )
    spec = f"{PACKAGE}@{VERSION}"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = subprocess.run(  # noqa: S603 - a fixed command line, no shell
                [npm, "pack", spec, "--ignore-scripts", "--silent", "--pack-destination", tmp],
                capture_output=True,
                text=True,
                timeout=NPM_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SpaSdkUnavailable(f"`npm pack {spec}` did not run: {exc}") from None
        packed = sorted(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or len(packed) != 1:
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no tarball"]
            raise SpaSdkUnavailable(f"`npm pack {spec}` failed: {detail[0]}")
        return packed[0].read_bytes()


def _check_integrity(tarball: bytes) -> None:
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if digest != INTEGRITY:
        raise SpaSdkUnavailable(
            f"{PACKAGE}@{VERSION} does not match its published integrity; not using it"
        )


def _extract_bundle(tarball: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        try:
            member = archive.extractfile(BUNDLE)
        except KeyError:
            member = None
        if member is None:
            raise SpaSdkUnavailable(f"{PACKAGE}@{VERSION} has no {BUNDLE}")
        return member.read()
