"""The class view: a run's numbers at a glance, folded from status changes. Pure."""

from __future__ import annotations

import statistics
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_TRACKED = 100_000  # declarations remembered for stage timing; the oldest are forgotten
STAGE_SAMPLES = 2_000  # the latest stage durations kept per state, for the medians


@dataclass
class RunStats:
    """Counts by status, channel mix, refunds paid and median time per saga state, for one run."""

    started_at: float
    status_counts: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    refunds_paid: int = 0
    refund_total: Decimal = Decimal(0)
    events: int = 0
    _status_of: dict[str, str] = field(default_factory=dict)
    _entered: dict[str, tuple[str, float]] = field(default_factory=dict)
    _stage_s: dict[str, deque[float]] = field(default_factory=dict)

    def observe(self, item: Mapping[str, Any]) -> None:
        """Fold one status change (the stream's item form) into the numbers."""
        at = float(item["at"])
        if at < self.started_at:
            return
        self.events += 1
        key = str(item["id"])
        status, state = str(item["status"]), str(item["state"])
        before = self._status_of.pop(key, None)
        if before is not None:
            self.status_counts[before] -= 1
        self.status_counts[status] += 1
        self._status_of[key] = status
        entered = self._entered.pop(key, None)
        if entered is not None and entered[0] != state:
            samples = self._stage_s.setdefault(entered[0], deque(maxlen=STAGE_SAMPLES))
            samples.append(max(0.0, at - entered[1]))
            entered = None
        self._entered[key] = entered or (state, at)
        trigger = item.get("trigger")
        if trigger == "customs.declaration.accepted" and item.get("channel"):
            self.channels[str(item["channel"])] += 1
        elif trigger == "tax.refund.paid":
            self.refunds_paid += 1
            self.refund_total += _decimal((item.get("figures") or {}).get("refund"))
        while len(self._status_of) > MAX_TRACKED:
            self._status_of.pop(next(iter(self._status_of)))
        while len(self._entered) > MAX_TRACKED:
            self._entered.pop(next(iter(self._entered)))

    def snapshot(self) -> dict[str, Any]:
        """The numbers as the page shows them."""
        return {
            "started_at": self.started_at,
            "events": self.events,
            "declarations": sum(self.status_counts.values()),
            "by_status": {k: v for k, v in sorted(self.status_counts.items()) if v > 0},
            "channels": dict(sorted(self.channels.items())),
            "refunds_paid": self.refunds_paid,
            "refund_total": str(self.refund_total),
            "median_stage_s": {
                state: round(statistics.median(samples), 3)
                for state, samples in sorted(self._stage_s.items())
                if samples
            },
        }


def _decimal(value: object) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)
