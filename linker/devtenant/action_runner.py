"""Runs the post-login Action in Node, through one long-lived worker process.

The worker (`action_worker.js`) speaks JSON lines with request ids, so concurrent logins
share it. It starts on first use and stops when the tenant's lifespan ends. If it dies or
an Action hangs, the requests in flight fail with `ActionWorkerError` (naming the exit code
and the last lines it wrote to stderr) and the next request starts a fresh worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from collections import deque
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from linker.devtenant.action_event import ActionOutcome

logger = logging.getLogger("linker.devtenant.action")

LINE_LIMIT = 16 * 1024 * 1024
ACTION_TIMEOUT = 10.0  # seconds an Action may run before its worker is replaced


class ActionWorkerError(RuntimeError):
    """The Action could not be run at all (as opposed to the Action denying or throwing)."""


def worker_script() -> Path:
    return Path(str(resources.files("linker.devtenant").joinpath("action_worker.js")))


class ActionRunner:
    def __init__(self, action_path: Path) -> None:
        self.action_path = action_path
        self.timeout = ACTION_TIMEOUT  # tests shorten it to see a hung Action replaced
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[int, asyncio.Future[ActionOutcome]] = {}
        self._next_id = 0
        self._start_lock = asyncio.Lock()
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.starts = 0  # how many workers were started: a restart shows as 2

    async def run(
        self, trigger: str, event: Mapping[str, Any], context: Mapping[str, Any]
    ) -> ActionOutcome:
        proc = await self._ensure_started()
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[ActionOutcome] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        line = json.dumps(
            {"id": request_id, "trigger": trigger, "event": event, "context": context}
        )
        try:
            assert proc.stdin is not None
            proc.stdin.write(line.encode() + b"\n")
            await proc.stdin.drain()
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            # A hung Action would hold the worker forever: replace it.
            await self._kill(f"the Action did not finish within {self.timeout:g} s")
            raise ActionWorkerError(
                f"the Action did not finish within {self.timeout:g} s"
            ) from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ActionWorkerError(f"the action worker is gone: {exc}") from exc
        finally:
            self._pending.pop(request_id, None)

    async def aclose(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 2.0)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await self._finish_tasks()
        self._proc = None
        self._loop = None

    async def _ensure_started(self) -> asyncio.subprocess.Process:
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            # Pipes belong to the loop that made them; a second loop cannot use them.
            raise ActionWorkerError(
                "the Action worker belongs to another event loop: create one dev tenant app "
                "per event loop and run its lifespan"
            )
        async with self._start_lock:
            if self._proc is not None and self._proc.returncode is None:
                return self._proc
            await self._finish_tasks()
            node = shutil.which("node")
            if node is None:
                raise ActionWorkerError(
                    "node is not on PATH: the dev tenant runs the Action in Node"
                )
            self._proc = await asyncio.create_subprocess_exec(
                node,
                str(worker_script()),
                str(self.action_path),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=LINE_LIMIT,
            )
            self.starts += 1
            self._loop = loop
            self._tasks = [
                asyncio.create_task(self._read_answers(self._proc)),
                asyncio.create_task(self._read_stderr(self._proc)),
            ]
            return self._proc

    async def _read_answers(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            try:
                message = json.loads(line)
                future = self._pending.get(message["id"])
            except (ValueError, KeyError, TypeError):
                logger.error("action worker wrote a line that is not an answer: %r", line[:200])
                continue
            if future is None or future.done():
                continue
            if message.get("ok"):
                future.set_result(ActionOutcome.from_worker(message["outcome"]))
            else:
                future.set_exception(ActionWorkerError(str(message.get("error"))))
        code = await proc.wait()
        if self._pending:
            self._fail_pending(f"the action worker exited with code {code}")

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self._stderr_tail.append(text)
            logger.info("%s", text)

    def _fail_pending(self, reason: str) -> None:
        tail = " | ".join(self._stderr_tail)
        detail = f"{reason}; stderr: {tail}" if tail else reason
        logger.error("%s", detail)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ActionWorkerError(detail))

    async def _kill(self, reason: str) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            logger.error("killing the action worker: %s", reason)
            proc.kill()
            await proc.wait()
        await self._finish_tasks()

    async def _finish_tasks(self) -> None:
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
