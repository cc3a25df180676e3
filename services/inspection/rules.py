"""Inspection & quarantine decisions as pure functions: catalogue-driven checks, outcomes with
reasons, simulated durations and certificates of origin (domain.md §3)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from schemas.messages import InspectionFailed, InspectionPassed, OriginCertified, ValueLine
from schemas.trade import Direction, OriginCertificate, Scenario
from services.inspection.reference import FailureReason, InspectionReference

# What is checked, by the inspection categories a line carries (most demanding first).
KINDS: tuple[tuple[str, str], ...] = (
    ("quarantine", "PQ"),  # entry / exit animal and plant quarantine
    ("food", "RS"),  # import / export food
    ("commodity", "MNL"),  # import / export commodity, CCC verification
)
CHECKS = {
    "quarantine": "quarantine: pests and diseases (检疫)",
    "food": "food safety: labelling (GB 7718), hygiene and quality (食品检验)",
    "commodity": "commodity: quality, safety and labelling (商品检验)",
    "sampled": "random check: quality and labelling (抽检)",
}
LETTERS = {
    OriginCertificate.NON_PREFERENTIAL: "C",
    OriginCertificate.FORM_E: "E",
    OriginCertificate.RCEP: "R",
    OriginCertificate.FORM_A: "A",
}


def certificate_no(org: str, direction: Direction, declaration_id: str) -> str:
    """A certificate number: 4-digit inspection organisation + I/E letter + 12 digits."""
    digits = int(hashlib.sha256(declaration_id.encode()).hexdigest(), 16) % 10**12
    return f"{org}{'I' if direction is Direction.IMPORT else 'E'}{digits:012d}"


def kind_of(lines: Sequence[ValueLine]) -> tuple[str, ValueLine | None]:
    """The most demanding kind of check the lines need, and the line that needs it."""
    for kind, letters in KINDS:
        for line in lines:
            if any(c in letters for c in line.inspection):
                return kind, line
    return "sampled", None


def _hours(kind: str, ref: InspectionReference, rng: random.Random) -> Decimal | None:
    spread = ref.hours.get(kind)
    if spread is None:
        return None
    low, mode, high = spread
    value = rng.triangular(float(low), float(high), float(mode))
    return Decimal(str(value)).quantize(Decimal("0.01"))


def origin_certificate(
    requested: OriginCertificate,
    *,
    destination: str,
    declaration_id: str,
    when: datetime,
    ref: InspectionReference,
) -> OriginCertified:
    """Issue the certificate of origin asked for, a substitute, or say why not."""
    issued: OriginCertificate | None = requested
    note, note_zh = f"{requested.value} issued for {destination}", "原产地证书已签发"
    if requested is OriginCertificate.FORM_A and destination in ref.gsp_refused:
        issued = OriginCertificate.NON_PREFERENTIAL
        note = (
            f"GSP Form A is no longer issued for {destination} (since 2021-12-01, GACC "
            "announcement 2021 No. 84): a non-preferential certificate is issued instead"
        )
        note_zh = "自2021年12月1日起不再签发普惠制原产地证书,改签非优惠原产地证书"
    elif requested is OriginCertificate.FORM_E and destination not in ref.form_e_members:
        issued = None
        note = f"Form E (ACFTA) covers ASEAN members only; {destination} is not one"
        note_zh = "中国-东盟原产地证书(FORM E)仅适用于东盟成员国"
    elif requested is OriginCertificate.RCEP and destination not in ref.rcep_members:
        issued = None
        note = f"RCEP certificate covers RCEP members only; {destination} is not one"
        note_zh = "RCEP原产地证书仅适用于RCEP成员国"
    number = None
    if issued is not None:
        digits = int(hashlib.sha256(f"co|{declaration_id}".encode()).hexdigest(), 16) % 10**9
        number = f"{LETTERS[issued]}{when:%y}{ref.inspection_org}{digits:09d}"
    return OriginCertified(
        requested=requested, issued=issued, number=number, note=note, note_zh=note_zh
    )


def inspect(
    *,
    declaration_id: str,
    direction: Direction,
    scenario: Scenario | None,
    ref: InspectionReference,
    rng: random.Random,
    lines: Sequence[ValueLine] = (),
    physical: bool = True,
    certificate: OriginCertificate | None = None,
    destination: str = "",
    when: datetime,
) -> InspectionPassed | InspectionFailed:
    """Pass the goods with a certificate, or fail them with a reason (seeded)."""
    kind, culprit = kind_of(lines)
    hours = _hours(kind if physical else "documents", ref, rng)
    if not physical:
        failure: FailureReason | None = None
    elif scenario is Scenario.INSPECTION_FAIL:
        failure = _reasons(kind, ref)[0]
    elif scenario in (Scenario.HAPPY, Scenario.RED_CHANNEL):
        failure = None
    else:
        rate = ref.fail_rates.get(kind, ref.fail_rate)
        failed = Decimal(str(rng.random())) < rate
        failure = rng.choice(_reasons(kind, ref)) if failed else None
    if failure is not None:
        line = culprit or (lines[0] if lines else None)
        index = list(lines).index(line) if line is not None else None
        return InspectionFailed(
            reason_code=failure.code,
            reason=failure.reason,
            reason_zh=failure.reason_zh,
            hs_code=line.hs_code if line else None,
            hours=hours,
            field=f"items[{index}].hs_code" if index is not None else "items",
            rule=failure.rule or None,
        )
    origin = None
    if certificate is not None and direction is Direction.EXPORT:
        origin = origin_certificate(
            certificate,
            destination=destination,
            declaration_id=declaration_id,
            when=when,
            ref=ref,
        )
    categories = "".join(sorted({c for line in lines for c in line.inspection}))
    return InspectionPassed(
        certificate_no=certificate_no(ref.inspection_org, direction, declaration_id),
        inspected=physical,
        categories=categories,
        checks=(CHECKS[kind],) if physical else ("documents only: certificate of origin",),
        hours=hours,
        origin=origin,
    )


def _reasons(kind: str, ref: InspectionReference) -> tuple[FailureReason, ...]:
    found = tuple(r for r in ref.failure_reasons if not r.kinds or kind in r.kinds.split(","))
    return found or ref.failure_reasons
