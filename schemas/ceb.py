"""The CEB door's JSON answers: the receipt mailbox (gateway/ceb/routes.py, docs/ceb.md)."""

from __future__ import annotations

from pydantic import Field

from schemas.base import Contract


class CebReceiptView(Contract):
    """One receipt in an enterprise's mailbox."""

    seq: int = Field(description="its place in the mailbox: pass it as `after` to read on")
    ori_guid: str = Field(description="guid of the document it answers")
    message: str = Field(description="e.g. CEB622")
    return_status: str = Field(description="returnStatus, e.g. 120")
    xml: str = Field(description="the receipt message, UTF-8")
    declaration_id: str | None = Field(
        default=None, description="the declaration the document became or is about (lists)"
    )


class CebReceiptList(Contract):
    """Receipts after a cursor, oldest first."""

    data: list[CebReceiptView]
    cursor: int = Field(description="the last seq returned (or `after`): the next `after`")
