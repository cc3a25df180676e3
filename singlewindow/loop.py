"""One way to run a command's event loop: uvloop, as the services run, when it is installed."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on uvloop's loop (the services' own, through uvicorn) if installed.

    The load tool shares the machine it measures, and the bench's raw chain and skeleton
    stand for what the services could do: all three run on the loop the services run on.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; asyncio's loop also works
        return asyncio.run(main)
    return uvloop.run(main)
