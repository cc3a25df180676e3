"""The composer's ready-made declarations: one per trade mode a class meets first."""

from __future__ import annotations

from typing import Any, Final

from schemas.samples import DEMO_DECLARANT, sample_declaration


def _item(
    hs_code: str, description: str, quantity: str, unit: str, unit_price: str, origin: str
) -> dict[str, str]:
    return {
        "hs_code": hs_code,
        "description": description,
        "quantity": quantity,
        "unit": unit,
        "unit_price": unit_price,
        "origin_country": origin,
    }


def _declaration(
    direction: str, mode: str, country: str, currency: str, *items: dict[str, str]
) -> dict[str, Any]:
    return {
        "direction": direction,
        "trade_mode": mode,
        "declarant": dict(DEMO_DECLARANT),
        "counterparty_country": country,
        "currency": currency,
        "items": list(items),
    }


# Keyed by trade mode, in the order the composer shows them.
EXAMPLES: Final[dict[str, dict[str, Any]]] = {
    "0110": sample_declaration("export", "0110"),  # the sample the API documents
    "9610": _declaration(
        "export",
        "9610",
        "USA",
        "USD",
        _item("8518300000", "bluetooth earphones, one parcel", "2", "个", "25.00", "CHN"),
    ),
    "1210": _declaration(
        "import",
        "1210",
        "FRA",
        "EUR",
        _item("3304990010", "face cream from bonded stock", "3", "瓶", "40.00", "FRA"),
    ),
    "9710": _declaration(
        "export",
        "9710",
        "SGP",
        "USD",
        _item("9405110000", "LED ceiling lamps, B2B order", "500", "个", "18.00", "CHN"),
    ),
    "9810": _declaration(
        "export",
        "9810",
        "GBR",
        "GBP",
        _item(
            "9403500010",
            "rosewood bedroom furniture, to a UK warehouse",
            "20",
            "件",
            "350.00",
            "CHN",
        ),
    ),
}
