"""What inspection holds about a declaration (stored as the record document)."""

from __future__ import annotations

from schemas.base import Contract


class InspectionRecord(Contract):
    """The outcome of inspecting one declaration's goods."""

    result: str
    reason: str
    certificate_no: str | None = None
    failure_code: str | None = None
    origin_certificate_no: str | None = None
