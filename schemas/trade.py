"""The trade declaration as every agency sees it."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator

from schemas.base import Contract
from schemas.codes import COUNTRIES, CURRENCIES, HS_CODE_PATTERN, uscc_problem


class Direction(StrEnum):
    EXPORT = "export"
    IMPORT = "import"


class TradeMode(StrEnum):
    """Customs supervision modes (监管方式) the simulator handles."""

    GENERAL = "0110"
    CBEC_RETAIL = "9610"
    CBEC_BONDED = "1210"
    CBEC_B2B_DIRECT = "9710"
    CBEC_B2B_WAREHOUSE = "9810"


class Scenario(StrEnum):
    """Forced outcomes for the sandbox; absent means the seeded simulation decides."""

    HAPPY = "happy"
    CUSTOMS_REJECT = "customs_reject"
    RED_CHANNEL = "red_channel"
    INSPECTION_FAIL = "inspection_fail"
    REFUND_DENIED = "refund_denied"


Money = Annotated[Decimal, Field(max_digits=18, decimal_places=4)]


class Party(Contract):
    """An enterprise named by its unified social credit code."""

    uscc: str = Field(description="18-character unified social credit code, check verified")
    name: str = Field(min_length=1, max_length=200)

    @field_validator("uscc")
    @classmethod
    def _valid_uscc(cls, value: str) -> str:
        problem = uscc_problem(value)
        if problem:
            raise ValueError(f"not a valid unified social credit code: {problem}")
        return value


def _country(value: str) -> str:
    if value not in COUNTRIES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-3 country code the simulator knows")
    return value


class Item(Contract):
    """One goods line of a declaration."""

    hs_code: str = Field(description="10-digit HS commodity code")
    description: str = Field(min_length=1, max_length=500)
    quantity: Annotated[Decimal, Field(gt=0, le=10_000_000, max_digits=18, decimal_places=4)]
    unit: str = Field(min_length=1, max_length=20, description="unit of measure, e.g. 台 or 011")
    unit_price: Annotated[Decimal, Field(ge=0, le=1_000_000_000, max_digits=18, decimal_places=4)]
    origin_country: str = Field(description="ISO 3166-1 alpha-3")

    @field_validator("hs_code")
    @classmethod
    def _hs_code(cls, value: str) -> str:
        if not HS_CODE_PATTERN.fullmatch(value):
            raise ValueError("must be a 10-digit HS code (digits only)")
        return value

    @field_validator("origin_country")
    @classmethod
    def _origin(cls, value: str) -> str:
        return _country(value)

    @property
    def value(self) -> Decimal:
        """Line value in the declaration's currency."""
        return self.quantity * self.unit_price


class DeclarationData(Contract):
    """What the trader declares once and every agency acts on."""

    direction: Direction
    trade_mode: TradeMode
    declarant: Party
    counterparty_country: str = Field(description="ISO 3166-1 alpha-3")
    currency: str = Field(description="ISO 4217")
    items: tuple[Item, ...] = Field(min_length=1, max_length=50)
    reference: str | None = Field(default=None, max_length=64)
    scenario: Scenario | None = None

    @field_validator("counterparty_country")
    @classmethod
    def _counterparty(cls, value: str) -> str:
        return _country(value)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            known = ", ".join(sorted(CURRENCIES))
            raise ValueError(f"{value!r} is not an ISO 4217 currency the simulator knows ({known})")
        return value

    @property
    def total_value(self) -> Decimal:
        """Sum of the line values in the declaration's currency."""
        return sum((item.value for item in self.items), Decimal(0))
