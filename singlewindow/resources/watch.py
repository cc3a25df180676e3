"""A run's cost, watched from its start to its end: the gauge's samples and the bus's offsets."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from singlewindow.resources.bus import Offsets, bus_per_declaration, end_offsets, traffic
from singlewindow.resources.gauge import Gauge, Sample, cpu_ms_per_declaration, footprint

log = logging.getLogger(__name__)


@dataclass
class Watch:
    """Sample before, sample after, and the figures a declaration between the two."""

    bootstrap: str
    gauge: Gauge | None
    first: Sample | None = None
    offsets: Offsets = field(default_factory=dict)
    began_at: float = 0.0  # wall clock, as the records' timestamps

    async def begin(self, t: float = 0.0) -> None:
        """The first sample and the topics' end offsets."""
        if self.gauge:
            self.first = self.gauge.sample(t)
        self.began_at = time.time()
        try:
            self.offsets = await end_offsets(self.bootstrap)
        except Exception as exc:  # the bus figures are extra: a run goes on without them
            log.warning("cannot read the topics' offsets at %s: %s", self.bootstrap, exc)

    async def finish(
        self,
        declarations: int,
        t: float,
        *,
        sent_until: Callable[[float], int] | None = None,
        read_budget_s: float = 60.0,
    ) -> dict[str, Any]:
        """CPU a declaration per process, memory and disk before and after, bus bytes.

        Reading the bus back takes at most `read_budget_s`; if that covers only part of the run
        (the budget ran out, or a topic generation was deleted during it), the bytes are divided
        by the declarations sent in the part read (`sent_until`: sent before an epoch time).
        """
        out: dict[str, Any] = {"declarations": declarations}
        if self.gauge and self.first:
            last = self.gauge.sample(t)
            out["cpu_ms_per_declaration"] = cpu_ms_per_declaration(self.first, last, declarations)
            out["footprint"] = footprint(self.first, last, declarations)
        if self.offsets:
            ended_at = time.time()
            try:
                moved, since, until = await traffic(
                    self.bootstrap, self.offsets, self.began_at, ended_at, read_budget_s
                )
            except Exception as exc:  # as above: figures beside the run, not the run
                log.warning("cannot read what the run put on the bus: %s", exc)
            else:
                part = since > self.began_at or until < ended_at
                if part and sent_until is None:
                    log.warning("the bus was read for part of the run only; no figures a run")
                else:
                    count = (
                        sent_until(until) - sent_until(since)
                        if part and sent_until
                        else declarations
                    )
                    out["bus"] = bus_per_declaration(moved, count, part)
        return out
