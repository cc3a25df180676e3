"""Helpers every test tier shares: polling with a deadline, a service's batch processor."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from services.common.database import Database
from services.common.handling import Handler, Processor
from services.common.metrics import Metrics

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
NODE_BIN = ROOT / ".tools" / "node" / "node_modules" / ".bin"  # npm tools: `make node-tools`


def wait_for(
    probe: Callable[[], T | None], *, timeout_s: float, what: str, every_s: float = 0.1
) -> T:
    """Call `probe` until it returns something truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last: {last!r})")


def processor_of(
    service: str, db: Database, handlers: Mapping[str, Handler], **options: Any
) -> Processor:
    """A service's batch processor as the tests build it: its own metrics, run seed 1."""
    return Processor(
        service=service, db=db, handlers=handlers, metrics=Metrics(service), run_seed=1, **options
    )
