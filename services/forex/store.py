"""What forex holds about a declaration (stored as the record document)."""

from __future__ import annotations

from decimal import Decimal

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
