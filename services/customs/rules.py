"""Customs decisions as pure functions: review, risk channel, entry number, CNY valuation."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from schemas.messages import DeclarationAccepted, DeclarationRejected, ValueLine
from schemas.trade import DeclarationData, Direction, Scenario

FEN = Decimal("0.01")


@dataclass(frozen=True)
class CustomsReference:
    """Reference tables customs decides with."""

    district: str
    red_rate: Decimal
    yellow_rate: Decimal
    exchange_rates: dict[str, Decimal]
    inspection_chapters: dict[str, str]
    licence_chapters: dict[str, str]
    empty_chapters: frozenset[str]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> CustomsReference:
        """Build from the shipped JSON document."""
        return cls(
            district=raw["district"],
            red_rate=Decimal(raw["channel_rates"]["red"]),
            yellow_rate=Decimal(raw["channel_rates"]["yellow"]),
            exchange_rates={k: Decimal(v) for k, v in raw["exchange_rates_cny"].items()},
            inspection_chapters=dict(raw["statutory_inspection_chapters"]),
            licence_chapters=dict(raw["licence_chapters"]),
            empty_chapters=frozenset(raw["empty_chapters"]),
        )


def to_fen(amount: Decimal) -> Decimal:
    """Round to the fen, half up, as the agencies round."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def entry_id(district: str, when: datetime, direction: Direction, declaration_id: str) -> str:
    """The 18-digit declaration number: 4 district + 4 year + 1 flag (1 import, 0 export) + 9 sequence."""
    flag = "1" if direction is Direction.IMPORT else "0"
    sequence = int(hashlib.sha256(declaration_id.encode()).hexdigest(), 16) % 1_000_000_000
    return f"{district}{when.year:04d}{flag}{sequence:09d}"


def _reject(code: str, field: str, reason: str, reason_zh: str) -> DeclarationRejected:
    return DeclarationRejected(reason_code=code, field=field, reason=reason, reason_zh=reason_zh)


def check(declaration: DeclarationData, ref: CustomsReference) -> DeclarationRejected | None:
    """The first rule the declaration breaks, or None."""
    if declaration.scenario is Scenario.CUSTOMS_REJECT:
        return _reject(
            "C199",
            "scenario",
            "rejected on request (sandbox scenario customs_reject)",
            "按沙箱场景要求退单",
        )
    if declaration.currency not in ref.exchange_rates:
        return _reject(
            "C104",
            "currency",
            f"no customs exchange rate for {declaration.currency}",
            f"无{declaration.currency}海关汇率",
        )
    for i, item in enumerate(declaration.items):
        chapter = item.hs_code[:2]
        if chapter in ref.empty_chapters:
            return _reject(
                "C102",
                f"items[{i}].hs_code",
                f"chapter {chapter} is not a tariff chapter in use",
                f"商品编码第{chapter}章不存在",
            )
        if chapter in ref.licence_chapters:
            return _reject(
                "C101",
                f"items[{i}].hs_code",
                f"chapter {chapter}: {ref.licence_chapters[chapter]}; no licence declared",
                f"第{chapter}章商品须申领许可证",
            )
    if declaration.total_value <= 0:
        return _reject("C103", "items", "declared value must be positive", "申报总价必须大于零")
    return None


def channel(declaration: DeclarationData, ref: CustomsReference, rng: random.Random) -> str:
    """The risk channel: red sends goods to inspection, yellow to document review, green releases."""
    if declaration.scenario in (Scenario.RED_CHANNEL, Scenario.INSPECTION_FAIL):
        return "red"
    if declaration.scenario is Scenario.HAPPY:
        return "green"
    draw = Decimal(str(rng.random()))
    if draw < ref.red_rate:
        return "red"
    if draw < ref.red_rate + ref.yellow_rate:
        return "yellow"
    return "green"


def inspection_reason(
    declaration: DeclarationData, ref: CustomsReference, risk_channel: str
) -> str | None:
    """Why the goods must be inspected (statutory catalogue or red channel), or None."""
    for item in declaration.items:
        category = ref.inspection_chapters.get(item.hs_code[:2])
        if category:
            condition = "A" if declaration.direction is Direction.IMPORT else "B"
            return f"statutory inspection: HS {item.hs_code} (condition {condition}, category {category})"
    if risk_channel == "red":
        return "red channel: physical inspection selected by risk targeting"
    return None


def review(
    declaration: DeclarationData,
    *,
    declaration_id: str,
    ref: CustomsReference,
    rng: random.Random,
    when: datetime,
) -> DeclarationAccepted | DeclarationRejected:
    """Accept the declaration with a risk channel and CNY values, or reject it naming the field."""
    rejected = check(declaration, ref)
    if rejected:
        return rejected
    risk = channel(declaration, ref, rng)
    reason = inspection_reason(declaration, ref, risk)
    rate = ref.exchange_rates[declaration.currency]
    lines = tuple(
        ValueLine(hs_code=i.hs_code, value_cny=to_fen(i.value * rate)) for i in declaration.items
    )
    return DeclarationAccepted(
        entry_id=entry_id(ref.district, when, declaration.direction, declaration_id),
        channel=risk,
        inspection_required=reason is not None,
        inspection_reason=reason,
        fx_rate=rate,
        lines=lines,
        total_value_cny=sum((line.value_cny for line in lines), Decimal(0)),
    )
