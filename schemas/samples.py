"""The sample declarations, kept here once: the API's documented example (OpenAPI), the command
line's, the load tool's, the benches' and the tests'."""

from __future__ import annotations

from typing import Any

DEMO_USCC = "91350100M000100Y43"  # passes both check characters (domain.md §2.5)
DEMO_DECLARANT = {"uscc": DEMO_USCC, "name": "Fuzhou Demo Trading Co."}


def sample_declaration(
    direction: str = "export",
    trade_mode: str = "0110",
    scenario: str | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    """A small, valid declaration: phones out to Germany, or cosmetics in from France."""
    if direction == "export":
        body: dict[str, Any] = {
            "direction": "export",
            "trade_mode": trade_mode,
            "declarant": dict(DEMO_DECLARANT),
            "counterparty_country": "DEU",
            "currency": "USD",
            "items": [
                {
                    "hs_code": "8517130000",
                    "description": "smartphones",
                    "quantity": "100",
                    "unit": "台",
                    "unit_price": "120.00",
                    "origin_country": "CHN",
                }
            ],
        }
    else:
        body = {
            "direction": "import",
            "trade_mode": trade_mode,
            "declarant": dict(DEMO_DECLARANT),
            "counterparty_country": "FRA",
            "currency": "EUR",
            "items": [
                {
                    "hs_code": "3303000000",
                    "description": "perfume",
                    "quantity": "10",
                    "unit": "瓶",
                    "unit_price": "50.00",
                    "origin_country": "FRA",
                }
            ],
        }
    if scenario:
        body["scenario"] = scenario
    if reference:
        body["reference"] = reference
    return body
