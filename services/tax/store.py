"""What tax holds about a declaration (stored as the record document)."""

from __future__ import annotations

from decimal import Decimal

from schemas.base import Contract


class TaxRecord(Contract):
    """A refund paid or denied, or import taxes collected, for one declaration."""

    kind: str
    entry_id: str
    outcome: str
    amount: Decimal
    reason_code: str | None = None
