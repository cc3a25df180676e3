"""A periodic job a lifespan starts and stops: the deadline watcher, the retention purge."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.common.tasks import cancel


class Every:
    """Runs `tick` every `every_s` seconds (after the first wait, or at once) until stopped;
    a tick that fails is logged, and the next one runs on time."""

    def __init__(
        self,
        name: str,
        every_s: float,
        tick: Callable[[], Awaitable[Any]],
        *,
        log: logging.Logger,
        wait_first: bool,
    ) -> None:
        self.name = name
        self.every_s = every_s
        self.tick = tick
        self.log = log
        self.wait_first = wait_first
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the job (the lifespan owns it)."""
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Stop the job; a tick cut short is done again by the next process or round."""
        await cancel(self._task)

    async def _run(self) -> None:
        if self.wait_first:
            await asyncio.sleep(self.every_s)
        while True:
            try:
                await self.tick()
            except Exception:
                self.log.exception("%s failed; will retry", self.name)
            await asyncio.sleep(self.every_s)  # the job's period, not a wait for a condition
