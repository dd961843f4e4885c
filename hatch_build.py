"""Build hooks shared by both distributions (linker-auth0 here, linker-auth0-dev in dev/).

- Each pyproject names the files it ships from elsewhere in the tree under
  `[tool.linker.ship]`. They go into regular wheels only: an editable install runs from the
  checkout, where a copy would go stale as soon as the original is edited. A pyproject may
  also ship the repository's LICENSE with `[tool.linker] license = "../LICENSE"`, into the
  wheel's own `.dist-info/licenses/`, whose name carries the version.
- linker-auth0-dev's metadata hook pins linker-auth0 to the very release it is built from,
  so `linker/__init__.py`'s `__version__` is the one place a release is written.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface
from hatchling.metadata.plugin.interface import MetadataHookInterface


class ShipFromTree(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version != "standard":
            return
        linker = self.metadata.config.get("tool", {}).get("linker", {})
        ship = dict(linker.get("ship", {}))
        license_file = linker.get("license")
        if license_file:
            name = self.metadata.core.name.replace("-", "_")
            ship[license_file] = f"{name}-{self.metadata.version}.dist-info/licenses/LICENSE"
        build_data["force_include"].update(ship)


class PinRelease(MetadataHookInterface):
    PLUGIN_NAME = "custom"

    def update(self, metadata: dict[str, Any]) -> None:
        metadata["dependencies"] = [f"linker-auth0=={metadata['version']}"]
