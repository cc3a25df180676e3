"""The rates and parameters forex decides with (the bank's daily rates, matching tolerance,
SAFE classes, the simulated buyer), as shipped in data/ and loaded once a process."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.units import ZERO


class NoRate(ValueError):
    """No rate for the currency on the table."""


@dataclass(frozen=True)
class Behaviour:
    """How the simulated buyer pays: odds of a partial, over- or late payment."""

    partial: Decimal
    over: Decimal
    late: Decimal

    @classmethod
    def from_json(cls, raw: Mapping[str, str]) -> Behaviour:
        """Build from the `simulated_buyer` object."""
        return cls(Decimal(raw["partial"]), Decimal(raw["over"]), Decimal(raw["late"]))


@dataclass(frozen=True)
class ForexReference:
    """The bank's daily rates (CNY per unit), matching parameters and the SAFE classes."""

    daily_rates: dict[date, dict[str, Decimal]]
    tolerance: Decimal = Decimal("0.01")
    late_days: int = 90
    classes: dict[str, str] | None = None
    buyer: Behaviour = Behaviour(ZERO, ZERO, ZERO)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ForexReference:
        """Build from the shipped JSON document."""
        return cls(
            daily_rates={
                date.fromisoformat(day): {k: Decimal(v) for k, v in table.items()}
                for day, table in raw["daily_rates_cny"].items()
            },
            tolerance=Decimal(raw["match_tolerance"]),
            late_days=int(raw["late_after_days"]),
            classes=dict(raw.get("enterprise_classes", {})),
            buyer=Behaviour.from_json(raw["simulated_buyer"]),
        )

    def with_overrides(self, tables: Mapping[date, Mapping[str, Decimal]]) -> ForexReference:
        """The reference with an administrator's rates laid over the shipped tables: each
        currency given for a day replaces that day's rate (a day not shipped is added)."""
        if not tables:
            return self
        merged = {day: dict(table) for day, table in self.daily_rates.items()}
        for day, table in tables.items():
            merged[day] = {**merged.get(day, {}), **table}
        return replace(self, daily_rates=merged)

    def rate(self, currency: str, on: date) -> tuple[Decimal, date]:
        """The rate of a currency on a day: the latest table on or before it, or NoRate."""
        days = sorted((d for d in self.daily_rates if d <= on), reverse=True)
        days = days or sorted(self.daily_rates)  # before the first table: the earliest one
        for day in days:
            table = self.daily_rates[day]
            if currency in table:
                return table[currency], day
        raise NoRate(f"no settlement rate for {currency}")

    def fx_class(self, uscc: str | None) -> str:
        """The enterprise's SAFE class (A unless listed)."""
        return (self.classes or {}).get(uscc or "", "A")


DATA = Path(__file__).parent / "data"


def load_reference(data: Path = DATA) -> ForexReference:
    """The shipped rate tables and parameters."""
    return ForexReference.from_json(json.loads((data / "reference.json").read_text("utf-8")))
