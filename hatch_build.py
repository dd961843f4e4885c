"""Build hook shared by both distributions (linker-auth0 here, linker-auth0-dev in dev/).

Each pyproject names the files it ships from elsewhere in the tree under
`[tool.linker.ship]`. They go into regular wheels only: an editable install runs from the
checkout, where a copy would go stale as soon as the original is edited.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ShipFromTree(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version != "standard":
            return
        ship = self.metadata.config.get("tool", {}).get("linker", {}).get("ship", {})
        build_data["force_include"].update(ship)
