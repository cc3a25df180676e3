"""Builders the unit tests share: declarations, lines, a fixed-draw generator, shipped references."""

from __future__ import annotations

import csv
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.base import Event
from schemas.messages import DeclarationAccepted, ValueLine
from schemas.trade import DeclarationData, Direction, Item, Party, Scenario, TradeMode

ROOT = Path(__file__).resolve().parents[2]
DEMO_USCC = "91350100M000100Y43"  # domain.md §2.5: passes both check characters


def shipped(agency: str) -> dict[str, Any]:
    """The reference JSON an agency ships in services/<agency>/data/."""
    path = ROOT / "services" / agency / "data" / "reference.json"
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def shipped_tariff() -> list[dict[str, str]]:
    """The rows of the customs tariff subset shipped in services/customs/data/tariff.csv."""
    path = ROOT / "services" / "customs" / "data" / "tariff.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def item(
    hs_code: str = "8517130000",
    quantity: str = "1",
    unit_price: str = "100",
    *,
    origin: str = "CHN",
    description: str = "goods",
    licence_no: str | None = None,
) -> Item:
    """One goods line."""
    return Item(
        hs_code=hs_code,
        description=description,
        quantity=Decimal(quantity),
        unit="011",
        unit_price=Decimal(unit_price),
        origin_country=origin,
        licence_no=licence_no,
    )


def declaration(
    *items: Item,
    direction: Direction = Direction.EXPORT,
    trade_mode: TradeMode = TradeMode.GENERAL,
    currency: str = "USD",
    scenario: Scenario | None = None,
    counterparty: str = "DEU",
    uscc: str = DEMO_USCC,
    **extra: Any,
) -> DeclarationData:
    """A declaration of the given lines (one smartphone line if none are given)."""
    return DeclarationData(
        direction=direction,
        trade_mode=trade_mode,
        declarant=Party(uscc=uscc, name="Fuzhou Demo Trading Co."),
        counterparty_country=counterparty,
        currency=currency,
        items=items or (item(),),
        scenario=scenario,
        **extra,
    )


def line(hs_code: str, value_cny: str, **rates: str) -> ValueLine:
    """One goods line valued in CNY, as customs hands it to tax (rates optional)."""
    return ValueLine(
        hs_code=hs_code, value_cny=Decimal(value_cny), **{k: Decimal(v) for k, v in rates.items()}
    )


class FixedDraw(random.Random):
    """A generator whose `random()` always returns one value; everything else stays seeded."""

    def __init__(self, value: float, seed: int = 0) -> None:
        super().__init__(seed)
        self.value = value

    def random(self) -> float:
        return self.value


def green_acceptance() -> DeclarationAccepted:
    """Customs' acceptance of the smartphone declaration: green channel, no inspection."""
    return DeclarationAccepted(
        entry_id="531620260000000001",
        channel="green",
        inspection_required=False,
        fx_rate=Decimal("7.1"),
        lines=(ValueLine(hs_code="8517130000", value_cny=Decimal("85200.00")),),
        total_value_cny=Decimal("85200.00"),
    )


def guarded(row_when: str | None, event: Event) -> Event:
    """The event made to satisfy a table row's guard (gateway/saga/ GUARDS)."""
    if row_when == "customs clears":
        return event.model_copy(update={"clears": True})
    if row_when == "customs closes":
        return event.model_copy(update={"closes": True})
    return event
