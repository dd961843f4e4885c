"""Where the Action shim is: package data in an installed wheel, `deploy/action/` in a checkout.

In the repository, `deploy/action/linker-action.js` is the one canonical file;
the wheel build copies it to `linker/action/` (see `hatch_build.py`), so a pip install can
print it (`linker action`) and the dev tenant can run it without the repository.
"""

from __future__ import annotations

from pathlib import Path

SHIM_NAME = "linker-action.js"
_PACKAGE = Path(__file__).resolve().parent
_CANDIDATES = (
    _PACKAGE / "action" / SHIM_NAME,  # installed from a wheel
    _PACKAGE.parent / "deploy" / "action" / SHIM_NAME,  # a checkout (or an editable install)
)


def shim_path() -> Path:
    """The shim's file; when neither place has it, the packaged path (which then names what
    is missing in the error of whoever opens it)."""
    return next((path for path in _CANDIDATES if path.is_file()), _CANDIDATES[0])


def shim_source() -> str:
    """The shim's JavaScript, as deployed to the tenant."""
    return shim_path().read_text(encoding="utf-8")
