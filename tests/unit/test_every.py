"""A periodic job goes on after a failed tick; one that waits first does not tick at start."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from services.common.every import Every


async def _until(condition: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_a_failed_tick_is_logged_and_the_next_one_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks: list[int] = []

    async def tick() -> None:
        ticks.append(len(ticks))
        if len(ticks) == 1:
            raise RuntimeError("the database is away")

    job = Every("test job", 0.01, tick, log=logging.getLogger("every"), wait_first=False)
    job.start()
    try:
        await _until(lambda: len(ticks) >= 3)
    finally:
        await job.stop()
    assert "test job failed; will retry" in caplog.text


async def test_a_job_that_waits_first_does_not_tick_at_start() -> None:
    ticks: list[float] = []

    async def tick() -> None:
        ticks.append(time.monotonic())

    job = Every("slow job", 3600, tick, log=logging.getLogger("every"), wait_first=True)
    job.start()
    await asyncio.sleep(0)  # let the task begin its first wait
    await job.stop()
    assert ticks == []
