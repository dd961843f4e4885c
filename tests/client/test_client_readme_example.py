"""The README's agent example is code that runs: its names exist, it builds the agent, and
the agent closes the clients it opened when it stops."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

README = Path(__file__).resolve().parents[2] / "README.md"


async def test_the_agent_example_builds() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## For agent builders") :]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code[1], "README.md", "exec"), namespace)  # noqa: S102
    assert isinstance(namespace["agent"], Starlette)
    assert namespace["vault"].via("slack") == "auto"  # the default: connect first, else link
    agent = namespace["agent"]
    async with agent.router.lifespan_context(agent):
        assert not namespace["vault"]._http.is_closed
    assert namespace["vault"]._http.is_closed and namespace["accounts"]._http.is_closed
