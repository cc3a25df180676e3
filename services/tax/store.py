"""What tax holds about a declaration (stored as the record document)."""

from __future__ import annotations

from decimal import Decimal

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
