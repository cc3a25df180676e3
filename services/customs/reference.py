"""The reference data customs decides with (tariff subset, risk profile, parameters), as
shipped in data/ and loaded once a process."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TariffLine:
    """One 10-digit line of the shipped tariff subset."""

    hs_code: str
    name_zh: str
    name_en: str
    unit: str
    duty: Decimal
    vat: Decimal
    consumption_tax: Decimal
    export_refund: Decimal
    supervision: str
    inspection: str
    cbec_positive: bool

    @classmethod
    def from_row(cls, row: Mapping[str, str]) -> TariffLine:
        """Build from one CSV row."""
        return cls(
            hs_code=row["hs_code"],
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            unit=row["unit"],
            duty=Decimal(row["duty"]),
            vat=Decimal(row["vat"]),
            consumption_tax=Decimal(row["consumption_tax"]),
            export_refund=Decimal(row["export_refund"]),
            supervision=row["supervision"],
            inspection=row["inspection"],
            cbec_positive=row["cbec_positive"] == "Y",
        )


@dataclass(frozen=True)
class RiskProfile:
    """Channel rates and what raises or lowers them (布控 parameters)."""

    red: Decimal
    yellow: Decimal
    blue: Decimal
    chapter_factors: dict[str, Decimal]
    origin_factors: dict[str, Decimal]
    enterprise_factors: dict[str, Decimal]
    cap: Decimal

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RiskProfile:
        """Build from the `risk` object of the reference JSON."""

        def factors(key: str) -> dict[str, Decimal]:
            return {k: Decimal(v) for k, v in raw.get(key, {}).items()}

        return cls(
            red=Decimal(raw["red"]),
            yellow=Decimal(raw["yellow"]),
            blue=Decimal(raw.get("blue", "0")),
            chapter_factors=factors("chapter_factors"),
            origin_factors=factors("origin_factors"),
            enterprise_factors=factors("enterprise_factors"),
            cap=Decimal(raw.get("cap", "0.5")),
        )


@dataclass(frozen=True)
class CustomsReference:
    """Reference tables customs decides with."""

    district: str
    exchange_rates: dict[str, Decimal]
    tariff: dict[str, TariffLine]
    risk: RiskProfile
    sampling_rate: Decimal
    detention: dict[str, str]
    cbec_transaction_limit: Decimal
    b2b_list_limit: Decimal
    minutes: dict[str, Decimal]

    @classmethod
    def from_json(
        cls, raw: Mapping[str, Any], tariff: Iterable[Mapping[str, str]] = ()
    ) -> CustomsReference:
        """Build from the shipped JSON document and the tariff CSV rows (none: every line is
        unknown; `load_reference` reads the shipped tariff)."""
        lines = {row["hs_code"]: TariffLine.from_row(row) for row in tariff}
        return cls(
            district=raw["district"],
            exchange_rates={k: Decimal(v) for k, v in raw["exchange_rates_cny"].items()},
            tariff=lines,
            risk=RiskProfile.from_json(raw["risk"]),
            sampling_rate=Decimal(raw["inspection_sampling_rate"]),
            detention=dict(raw["detention_status"]),
            cbec_transaction_limit=Decimal(raw["cbec_transaction_limit_cny"]),
            b2b_list_limit=Decimal(raw["b2b_list_limit_cny"]),
            minutes={k: Decimal(v) for k, v in raw["simulated_minutes"].items()},
        )


DATA = Path(__file__).parent / "data"


def load_reference(data: Path = DATA) -> CustomsReference:
    """The shipped parameters and tariff subset."""
    with (data / "tariff.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    raw = json.loads((data / "reference.json").read_text(encoding="utf-8"))
    return CustomsReference.from_json(raw, rows)
