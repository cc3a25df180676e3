"""What a load run sends and when: arrival profiles and the scenario mix (pure)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.samples import sample_declaration


@dataclass(frozen=True)
class Profile:
    """An arrival rate over time: constant, a linear ramp, or equal-length steps."""

    kind: str
    rates: tuple[float, ...]
    duration_s: float

    @classmethod
    def parse(cls, spec: str, duration_s: float) -> Profile:
        """`200` or `constant:200`, `ramp:50-500`, `step:100,200,400` (declarations a second)."""
        kind, _, rest = spec.partition(":") if ":" in spec else ("constant", "", spec)
        try:
            if kind == "constant":
                rates: tuple[float, ...] = (float(rest),)
            elif kind == "ramp":
                low, _, high = rest.partition("-")
                rates = (float(low), float(high))
            elif kind == "step":
                rates = tuple(float(r) for r in rest.split(","))
            else:
                raise ValueError(f"unknown profile kind {kind!r}")
        except ValueError as exc:
            raise ValueError(
                f"bad rate profile {spec!r} ({exc}); use 200, ramp:50-500 or step:100,200,400"
            ) from exc
        if duration_s <= 0 or any(r <= 0 for r in rates):
            raise ValueError("rates and the duration must be positive")
        return cls(kind, rates, duration_s)

    def rate_at(self, t: float) -> float:
        """The target rate t seconds into the run."""
        if self.kind == "constant":
            return self.rates[0]
        if self.kind == "ramp":
            low, high = self.rates
            return low + (high - low) * min(max(t / self.duration_s, 0.0), 1.0)
        index = min(int(t / self.duration_s * len(self.rates)), len(self.rates) - 1)
        return self.rates[index]

    def send_times(self) -> list[float]:
        """Intended send offsets in seconds: the schedule, fixed before the run starts."""
        times: list[float] = []
        t = 0.0
        # The tolerance keeps float sums (0.005 added 400 times) from sending one extra at the end.
        while t < self.duration_s - 1e-9:
            times.append(t)
            t += 1.0 / self.rate_at(t)
        return times


@dataclass(frozen=True)
class MixEntry:
    """One kind of declaration and its share of the load."""

    direction: str
    trade_mode: str
    scenario: str | None
    weight: float

    @property
    def label(self) -> str:
        return f"{self.direction}/{self.trade_mode}" + (
            f"/{self.scenario}" if self.scenario else ""
        )


DEFAULT_MIX = (
    "export/0110=40,export/9610=20,export/9710=10,export/9810=10,import/0110=10,import/1210=10"
)


def parse_mix(spec: str) -> tuple[MixEntry, ...]:
    """`export/0110/happy=60,import/1210=40`, or `@file.json` holding a list of entries."""
    if spec.startswith("@"):
        raw: list[dict[str, Any]] = json.loads(Path(spec[1:]).read_text(encoding="utf-8"))
        entries = tuple(
            MixEntry(e["direction"], e["trade_mode"], e.get("scenario"), float(e.get("weight", 1)))
            for e in raw
        )
    else:
        parsed = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            what, _, weight = part.partition("=")
            fields = what.split("/")
            if len(fields) not in (2, 3) or fields[0] not in ("export", "import"):
                raise ValueError(
                    f"bad mix entry {part!r}: use direction/trade_mode[/scenario]=weight"
                )
            scenario = fields[2] if len(fields) == 3 else None
            parsed.append(MixEntry(fields[0], fields[1], scenario, float(weight or 1)))
        entries = tuple(parsed)
    if not entries or any(e.weight < 0 for e in entries) or sum(e.weight for e in entries) <= 0:
        raise ValueError("the mix needs at least one entry with a positive weight")
    return entries


def choose(mix: tuple[MixEntry, ...], count: int, seed: int) -> list[MixEntry]:
    """The kind of each of `count` declarations, drawn by weight from a seeded generator."""
    rng = random.Random(seed)
    return rng.choices(mix, weights=[e.weight for e in mix], k=count)


def body_for(entry: MixEntry, reference: str) -> dict[str, Any]:
    """The request body of one declaration of a kind."""
    return sample_declaration(entry.direction, entry.trade_mode, entry.scenario, reference)
