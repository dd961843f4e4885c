"""Is there a Node.js the dev tenant can run the Action in? Asked before anything starts, so a
suite without it stops at once with what to install, not at its first login with a 500."""

from __future__ import annotations

import re
import shutil
import subprocess

MIN_NODE = (18, 0)  # what Debian 12 ships (and the devtenant image runs); Auth0 runs Node 22
INSTALL = f"install Node.js {MIN_NODE[0]} or newer (https://nodejs.org/en/download)"


def node_problem(node: str | None = None) -> str | None:
    """One line saying what is wrong with `node` (default: the one on PATH), or None."""
    found = node or shutil.which("node")
    if found is None:
        return f"Node.js is not on PATH: the dev tenant runs the Action in it; {INSTALL}"
    try:
        done = subprocess.run(  # noqa: S603 (the node found on PATH, no shell)
            [found, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Node.js at {found} does not run ({exc}); {INSTALL}"
    version = re.fullmatch(r"v(\d+)\.(\d+)\.\d+\S*", done.stdout.strip())
    if done.returncode != 0 or version is None:
        return f"Node.js at {found} did not say its version; {INSTALL}"
    if (int(version[1]), int(version[2])) < MIN_NODE:
        return f"Node.js {done.stdout.strip()} at {found} is too old; {INSTALL}"
    return None
