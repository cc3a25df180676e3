"""What customs holds about a declaration (stored as the record document)."""

from __future__ import annotations

from schemas.base import Contract
from schemas.messages import ValueLine


class CustomsRecord(Contract):
    """Customs' view of one declaration; `status_code` is the real receipt code (120, 800, 899…)."""

    entry_id: str | None
    status_code: str
    channel: str | None = None
    direction: str
    trade_mode: str
    declarant_uscc: str
    reason: str | None = None
    document: str = "报关单"
    invt_no: str | None = None
    lines: tuple[ValueLine, ...] = ()
    summary_entry_id: str | None = None
