"""What customs holds about a declaration (stored as the record document)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

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


class MonthSummary(Contract):
    """An enterprise's 9610 lists summarised in one calendar month (汇总申报), by declaration."""

    sum_no: str
    entry_id: str
    lists: dict[str, Decimal] = Field(default_factory=dict)


def serial_key(kind: str, *scope: str) -> str:
    """The record key of a serial counter, e.g. serial|entry|5316|2026|0."""
    return "|".join(("serial", kind, *scope))


def summary_key(ebc_uscc: str, month: str) -> str:
    """The record key of an enterprise's summary of a month (YYYYMM, Beijing)."""
    return f"summary|{ebc_uscc}|{month}"
