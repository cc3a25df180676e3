"""What forex holds about a declaration (stored as the record document)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field

from schemas.base import Contract


class ForexRecord(Contract):
    """A receipt settled or a payment registered against one declaration."""

    kind: str
    entry_id: str
    amount: Decimal
    currency: str
    rate: Decimal
    amount_cny: Decimal
    declared: Decimal | None = None
    match: str = "matched"
    outstanding: Decimal = Decimal(0)
    held: Decimal = Decimal(0)
    fx_class: str = "A"
    registration_no: str | None = None
    tranches: int = 1


RATE_OVERRIDES = "rate-overrides"  # the record key of the administrator's rates


class RateOverrides(Contract):
    """Rates an administrator set through PUT /v1/admin/rates/{day}, by day then currency."""

    tables: dict[date, dict[str, Decimal]] = Field(default_factory=dict)
