"""docs/recipes/events.md's receiver, run as written: a link moves the rows in one
transaction, the same delivery again changes nothing, a forged one is refused."""

from __future__ import annotations

import re
import runpy
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from linker.core import events
from linker.core.identities import Identity
from linker.core.secret import Secret
from linker.ops.webhooks import WebhookSender
from tests.events.support import EVENTS_SECRET

RECIPE = Path(__file__).resolve().parents[2] / "docs" / "recipes" / "events.md"
PRIMARY, FORMER = "google-oauth2|alice", "github|1001"


def recipe_namespace(tmp_path: Path) -> dict[str, Any]:
    """The recipe's one Python block, run as the module a reader would save it as."""
    (code,) = re.findall(r"```python\n(.*?)```", RECIPE.read_text(), flags=re.DOTALL)
    module = tmp_path / "receiver.py"
    module.write_text(code)
    return runpy.run_path(str(module))


@pytest.fixture
def database(tmp_path: Path) -> str:
    return str(tmp_path / "app.db")


def seed(database: str) -> None:
    with sqlite3.connect(database) as db:
        db.executemany(
            "INSERT INTO orders (user_id, item) VALUES (?, ?)",
            [(FORMER, "book"), (FORMER, "lamp"), (PRIMARY, "pen")],
        )
        db.executemany(
            "INSERT INTO settings (user_id, theme) VALUES (?, ?)",
            [(FORMER, "light"), (PRIMARY, "dark")],
        )


def rows(database: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    with sqlite3.connect(database) as db:
        orders = db.execute("SELECT user_id, item FROM orders ORDER BY item").fetchall()
        settings = db.execute("SELECT user_id, theme FROM settings").fetchall()
    return orders, settings


async def post(client: httpx.AsyncClient, event: events.Event, **headers: str) -> int:
    signed = WebhookSender("https://unused.test", Secret(EVENTS_SECRET)).headers(
        event, now=time.time()
    )
    answer = await client.post("/linker-events", content=event.body(), headers=signed | headers)
    return answer.status_code


async def test_the_recipe_moves_rows_once_and_refuses_a_forgery(
    database: str, tmp_path: Path
) -> None:
    app = recipe_namespace(tmp_path)["create_receiver"](database, EVENTS_SECRET)
    seed(database)
    linked = events.linked(
        primary_user_id=PRIMARY,
        secondary=Identity("github", "1001", "github"),
        audit_id="a1.commit",
        time=time.time(),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://app.test") as client:
        forged = await post(client, linked, **{"webhook-signature": "v1,AAAA"})
        assert forged == 400
        assert rows(database)[0].count((FORMER, "book")) == 1  # nothing moved
        assert await post(client, linked) == 200
        moved = rows(database)
        assert moved[0] == [(PRIMARY, "book"), (PRIMARY, "lamp"), (PRIMARY, "pen")]
        assert moved[1] == [(PRIMARY, "dark")]  # the primary's own setting kept
        with sqlite3.connect(database) as db:  # a row the former user gets meanwhile
            db.execute("INSERT INTO orders (user_id, item) VALUES (?, ?)", (FORMER, "zzz"))
        assert await post(client, linked) == 200  # delivered again: applied once only
        assert (FORMER, "zzz") in rows(database)[0]
        too_large = await client.post("/linker-events", content=b"x" * 70_000)
        assert too_large.status_code == 413
