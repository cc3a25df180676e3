"""The tables tax decides with (refund, duty, consumption tax and VAT rates by HS prefix, the
enterprise register, CBEC limits), as shipped in data/ and loaded once a process."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.messages import ValueLine
from schemas.trade import EnterpriseType
from schemas.units import ZERO


@dataclass(frozen=True)
class RateTable:
    """Rates keyed by HS-code prefix; the longest matching prefix wins, "" is the default."""

    by_prefix: dict[str, Decimal]

    @classmethod
    def from_json(cls, raw: Mapping[str, str]) -> RateTable:
        """Build from a {prefix: rate} mapping."""
        return cls({k: Decimal(v) for k, v in raw.items()})

    def rate(self, hs_code: str) -> Decimal:
        """The rate of the longest prefix of `hs_code` on the table."""
        for length in range(len(hs_code), -1, -1):
            rate = self.by_prefix.get(hs_code[:length])
            if rate is not None:
                return rate
        return ZERO


@dataclass(frozen=True)
class TaxReference:
    """The tax tables and parameters.

    The rate tables are fallbacks: a line valued by customs carries its tariff line's rates.
    """

    refund: RateTable
    duty: RateTable
    consumption: RateTable
    vat: RateTable
    enterprises: dict[str, EnterpriseType]
    pilot_zones: frozenset[str]
    cbec_rate: Decimal = Decimal("0.7")
    cbec_transaction_limit: Decimal = Decimal(5000)
    cbec_annual_limit: Decimal = Decimal(26000)
    return_window_days: int = 30

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TaxReference:
        """Build from the shipped JSON document."""
        cbec = raw.get("cbec_retail_import", {})
        return cls(
            refund=RateTable.from_json(raw["refund_rates"]),
            duty=RateTable.from_json(raw["duty_rates"]),
            consumption=RateTable.from_json(raw["consumption_tax_rates"]),
            vat=RateTable.from_json(raw["vat_rates"]),
            enterprises={
                k: EnterpriseType(v) for k, v in raw.get("enterprise_register", {}).items()
            },
            pilot_zones=frozenset(raw.get("pilot_zone_cities", [])),
            cbec_rate=Decimal(cbec.get("rate", "0.7")),
            cbec_transaction_limit=Decimal(cbec.get("transaction_limit", "5000")),
            cbec_annual_limit=Decimal(cbec.get("annual_limit", "26000")),
            return_window_days=int(cbec.get("return_window_days", 30)),
        )

    def refund_rate(self, line: ValueLine) -> Decimal:
        """The line's export refund rate: its tariff line's, else the table's."""
        return line.refund_rate if line.refund_rate is not None else self.refund.rate(line.hs_code)

    def duty_rate(self, line: ValueLine) -> Decimal:
        """The line's MFN duty rate."""
        return line.duty_rate if line.duty_rate is not None else self.duty.rate(line.hs_code)

    def ct_rate(self, line: ValueLine) -> Decimal:
        """The line's ad-valorem consumption-tax rate."""
        if line.consumption_tax_rate is not None:
            return line.consumption_tax_rate
        return self.consumption.rate(line.hs_code)

    def vat_rate(self, line: ValueLine) -> Decimal:
        """The line's VAT rate."""
        return line.vat_rate if line.vat_rate is not None else self.vat.rate(line.hs_code)


DATA = Path(__file__).parent / "data"


def load_reference(data: Path = DATA) -> TaxReference:
    """The shipped tables and parameters."""
    return TaxReference.from_json(json.loads((data / "reference.json").read_text("utf-8")))
