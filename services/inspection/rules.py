"""Inspection & quarantine decisions as pure functions."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from schemas.messages import InspectionFailed, InspectionPassed
from schemas.trade import Direction, Scenario


@dataclass(frozen=True)
class FailureReason:
    """One reason goods fail inspection."""

    code: str
    reason: str
    reason_zh: str


@dataclass(frozen=True)
class InspectionReference:
    """Reference data inspection decides with."""

    fail_rate: Decimal
    inspection_org: str
    failure_reasons: tuple[FailureReason, ...]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> InspectionReference:
        """Build from the shipped JSON document."""
        return cls(
            fail_rate=Decimal(raw["fail_rate"]),
            inspection_org=raw["inspection_org"],
            failure_reasons=tuple(FailureReason(**r) for r in raw["failure_reasons"]),
        )


def certificate_no(org: str, direction: Direction, declaration_id: str) -> str:
    """A certificate number: 4-digit inspection organisation + I/E letter + 12 digits."""
    digits = int(hashlib.sha256(declaration_id.encode()).hexdigest(), 16) % 10**12
    return f"{org}{'I' if direction is Direction.IMPORT else 'E'}{digits:012d}"


def inspect(
    *,
    declaration_id: str,
    direction: Direction,
    scenario: Scenario | None,
    ref: InspectionReference,
    rng: random.Random,
) -> InspectionPassed | InspectionFailed:
    """Pass the goods with a certificate, or fail them with a reason (seeded)."""
    if scenario is Scenario.INSPECTION_FAIL:
        failure: FailureReason | None = ref.failure_reasons[0]
    elif scenario is Scenario.HAPPY:
        failure = None
    else:
        failed = Decimal(str(rng.random())) < ref.fail_rate
        failure = rng.choice(ref.failure_reasons) if failed else None
    if failure is not None:
        return InspectionFailed(
            reason_code=failure.code, reason=failure.reason, reason_zh=failure.reason_zh
        )
    return InspectionPassed(
        certificate_no=certificate_no(ref.inspection_org, direction, declaration_id)
    )
