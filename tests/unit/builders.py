"""Builders the unit tests share: declarations, lines, a fixed-draw generator."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from schemas.base import Event
from schemas.messages import DeclarationAccepted, ValueLine
from schemas.samples import DEMO_USCC
from schemas.trade import DeclarationData, Direction, Item, Party, Scenario, TradeMode

# The modes a declaration may be exported under, and the CBEC retail import modes.
EXPORT_MODES = (
    TradeMode.GENERAL,
    TradeMode.CBEC_RETAIL,
    TradeMode.CBEC_B2B_DIRECT,
    TradeMode.CBEC_B2B_WAREHOUSE,
)
CBEC_IMPORT_MODES = (TradeMode.CBEC_RETAIL, TradeMode.CBEC_BONDED)


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
