"""Client-initiated account linking for Auth0.

The public surface: `create_app` and `Settings` to run the service, `configure_logging` for its
logs, `shim_path` for the Action; `linker.core` (the protocol, pure), `linker.client` (helpers
for applications and agents) and `linker.testing` (helpers for test suites). Names are loaded
on first use, so `import linker.client` does not pull in the web service.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# The one place the release is written: both distributions read it (hatch_build.py).
__version__ = "0.1.0"

if TYPE_CHECKING:
    from linker.app import create_app
    from linker.ops.logs import configure_logging
    from linker.settings import Settings, SettingsError
    from linker.shim import shim_path
    from linker.state.store import MemoryStore, Store

_EXPORTS = {
    "create_app": "linker.app",
    "configure_logging": "linker.ops.logs",
    "Settings": "linker.settings",
    "SettingsError": "linker.settings",
    "shim_path": "linker.shim",
    # what `create_app(store=...)` takes: a suite's own memory store, to empty between tests
    "MemoryStore": "linker.state.store",
    "Store": "linker.state.store",
}

__all__ = [
    "MemoryStore",
    "Settings",
    "SettingsError",
    "Store",
    "__version__",
    "configure_logging",
    "create_app",
    "shim_path",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'linker' has no attribute {name!r}")
    return getattr(import_module(module), name)
