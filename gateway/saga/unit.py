"""Units of work on a saga, run through the group commit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy import Connection

from gateway.core.errors import ChangedMeanwhile
from services.common.changes import OutRow, VersionConflict
from services.common.runtime import Runtime

T = TypeVar("T")


async def run_on_saga(
    runtime: Runtime, unit: Callable[[Connection], tuple[T, Sequence[OutRow]]]
) -> T:
    """Run a unit of work on a saga; a concurrent change is a 409 to try again."""
    try:
        return await runtime.intake.run(unit)
    except VersionConflict as exc:
        raise ChangedMeanwhile("the declaration moved; try again") from exc
