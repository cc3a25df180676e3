"""The reference data inspection decides with (failure reasons and rates, durations, origin
agreements), as shipped in data/ and loaded once a process."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FailureReason:
    """One reason goods fail inspection, and the kinds of check that find it ("" = any)."""

    code: str
    reason: str
    reason_zh: str
    kinds: str = ""
    rule: str = ""


@dataclass(frozen=True)
class InspectionReference:
    """Reference data inspection decides with."""

    fail_rate: Decimal  # sampled goods (no inspection category)
    inspection_org: str
    failure_reasons: tuple[FailureReason, ...]
    fail_rates: dict[str, Decimal]  # by kind of check
    hours: dict[str, tuple[Decimal, Decimal, Decimal]]  # by kind: low, mode, high
    gsp_refused: frozenset[str]
    form_e_members: frozenset[str]
    rcep_members: frozenset[str]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> InspectionReference:
        """Build from the shipped JSON document."""
        origin = raw.get("origin", {})
        return cls(
            fail_rate=Decimal(raw["fail_rate"]),
            inspection_org=raw["inspection_org"],
            failure_reasons=tuple(FailureReason(**r) for r in raw["failure_reasons"]),
            fail_rates={k: Decimal(v) for k, v in raw.get("fail_rates", {}).items()},
            hours={
                k: (Decimal(v[0]), Decimal(v[1]), Decimal(v[2]))
                for k, v in raw.get("simulated_hours", {}).items()
            },
            gsp_refused=frozenset(origin.get("gsp_form_a_refused", [])),
            form_e_members=frozenset(origin.get("form_e", [])),
            rcep_members=frozenset(origin.get("rcep", [])),
        )


DATA = Path(__file__).parent / "data"


def load_reference(data: Path = DATA) -> InspectionReference:
    """The shipped reference document."""
    return InspectionReference.from_json(json.loads((data / "reference.json").read_text("utf-8")))
