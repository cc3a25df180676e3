"""What tax holds about a declaration (stored as the record document)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field

from schemas.base import Contract


class TaxRecord(Contract):
    """A refund paid, denied or exempted, or import taxes collected, for one declaration."""

    kind: str
    entry_id: str
    outcome: str
    amount: Decimal
    reason_code: str | None = None
    method: str | None = None
    buyer_id: str | None = None
    counted: Decimal | None = Field(default=None, description="CBEC: value counted to the year")
    assessed_on: date | None = None
    returned_on: date | None = None


class BuyerYear(Contract):
    """A buyer's CBEC retail imports in one calendar year (Beijing): the annual quota's ledger.

    Stored as its own record, keyed `quota_key(buyer_id, year)`, next to the declarations'.
    """

    buyer_id: str
    year: int
    used: Decimal = Decimal(0)
    orders: dict[str, Decimal] = Field(
        default_factory=dict, description="declaration id → value counted toward the year"
    )


def quota_key(buyer_id: str, year: int) -> str:
    """The record key of a buyer's year."""
    return f"cbec-quota|{buyer_id}|{year}"
