"""Every message that crosses the bus: commands (gateway → agency) and events."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from schemas.base import Command, Contract, Event
from schemas.trade import DeclarationData, Direction, Scenario, TradeMode


class ValueLine(Contract):
    """One goods line valued in CNY by customs."""

    hs_code: str
    value_cny: Decimal


class Explained(Contract):
    """A figure with what it was computed from, so every amount can be checked by hand."""

    amount: Decimal
    base: Decimal
    rate: Decimal
    formula: str


# --- customs -------------------------------------------------------------------------------


class FileDeclaration(Command):
    TYPE: ClassVar[str] = "customs.declaration.file"
    SUMMARY: ClassVar[str] = "File the declaration with customs (报关单 / CEB list)."
    declaration: DeclarationData


class ReleaseGoods(Command):
    TYPE: ClassVar[str] = "customs.goods.release"
    SUMMARY: ClassVar[str] = "Release the goods (放行) once every check is in."


class DetainGoods(Command):
    TYPE: ClassVar[str] = "customs.goods.detain"
    SUMMARY: ClassVar[str] = "Detain the goods after a failed inspection."
    reason_code: str
    reason: str


class CloseDeclaration(Command):
    TYPE: ClassVar[str] = "customs.declaration.close"
    SUMMARY: ClassVar[str] = "Close the declaration (结关) after departure or entry."


class DeclarationAccepted(Event):
    TYPE: ClassVar[str] = "customs.declaration.accepted"
    SUMMARY: ClassVar[str] = "Customs accepted the declaration into its database (status 120)."
    entry_id: str = Field(description="18-digit declaration number")
    status_code: str = "120"
    channel: str = Field(description="risk channel: green, yellow or red")
    inspection_required: bool
    inspection_reason: str | None = None
    fx_rate: Decimal = Field(description="customs exchange rate, CNY per unit of the currency")
    lines: tuple[ValueLine, ...]
    total_value_cny: Decimal


class DeclarationRejected(Event):
    TYPE: ClassVar[str] = "customs.declaration.rejected"
    SUMMARY: ClassVar[str] = "Customs rejected the declaration (退单, status 100)."
    status_code: str = "100"
    reason_code: str
    field: str
    reason: str
    reason_zh: str


class GoodsReleased(Event):
    TYPE: ClassVar[str] = "customs.goods.released"
    SUMMARY: ClassVar[str] = "Customs released the goods (放行, status 800)."
    entry_id: str
    status_code: str = "800"


class GoodsDetained(Event):
    TYPE: ClassVar[str] = "customs.goods.detained"
    SUMMARY: ClassVar[str] = "Customs detained the goods (status 501-599)."
    entry_id: str
    status_code: str = "501"
    reason_code: str
    reason: str


class DeclarationClosed(Event):
    TYPE: ClassVar[str] = "customs.declaration.closed"
    SUMMARY: ClassVar[str] = "Customs closed the declaration (结关, status 899)."
    entry_id: str
    status_code: str = "899"


# --- inspection ----------------------------------------------------------------------------


class InspectGoods(Command):
    TYPE: ClassVar[str] = "inspection.goods.inspect"
    SUMMARY: ClassVar[str] = "Inspect the goods (商检) for the reason customs gave."
    direction: Direction
    trade_mode: TradeMode
    hs_codes: tuple[str, ...]
    reason: str
    scenario: Scenario | None = None


class InspectionPassed(Event):
    TYPE: ClassVar[str] = "inspection.goods.passed"
    SUMMARY: ClassVar[str] = "Inspection & quarantine passed; a certificate number is issued."
    certificate_no: str


class InspectionFailed(Event):
    TYPE: ClassVar[str] = "inspection.goods.failed"
    SUMMARY: ClassVar[str] = "Inspection & quarantine failed, with the reason."
    reason_code: str
    reason: str
    reason_zh: str


# --- forex ---------------------------------------------------------------------------------


class SettleReceipt(Command):
    TYPE: ClassVar[str] = "forex.receipt.settle"
    SUMMARY: ClassVar[str] = "Match the buyer's payment to the declaration and settle it (结汇)."
    entry_id: str
    amount: Decimal
    currency: str


class RegisterPayment(Command):
    TYPE: ClassVar[str] = "forex.payment.register"
    SUMMARY: ClassVar[str] = "Register the import payment abroad against the declaration."
    entry_id: str
    amount: Decimal
    currency: str


class ReceiptSettled(Event):
    TYPE: ClassVar[str] = "forex.receipt.settled"
    SUMMARY: ClassVar[str] = "The export receipt was matched and settled into CNY."
    amount: Decimal
    currency: str
    rate: Decimal
    amount_cny: Decimal


class PaymentRegistered(Event):
    TYPE: ClassVar[str] = "forex.payment.registered"
    SUMMARY: ClassVar[str] = "The import payment was registered against the declaration."
    amount: Decimal
    currency: str
    rate: Decimal
    amount_cny: Decimal


# --- tax -----------------------------------------------------------------------------------


class ApplyRefund(Command):
    TYPE: ClassVar[str] = "tax.refund.apply"
    SUMMARY: ClassVar[str] = "Apply for the export VAT refund (退税)."
    entry_id: str
    lines: tuple[ValueLine, ...]
    scenario: Scenario | None = None


class AssessImportTaxes(Command):
    TYPE: ClassVar[str] = "tax.import.assess"
    SUMMARY: ClassVar[str] = "Assess and collect import duty, consumption tax and VAT."
    entry_id: str
    lines: tuple[ValueLine, ...]


class RefundPaid(Event):
    TYPE: ClassVar[str] = "tax.refund.paid"
    SUMMARY: ClassVar[str] = "The export VAT refund was approved and paid."
    refund: Explained
    lines: tuple[Explained, ...]


class RefundDenied(Event):
    TYPE: ClassVar[str] = "tax.refund.denied"
    SUMMARY: ClassVar[str] = "The export VAT refund was denied, with the reason."
    reason_code: str
    reason: str
    reason_zh: str


class ImportTaxesCollected(Event):
    TYPE: ClassVar[str] = "tax.import.collected"
    SUMMARY: ClassVar[str] = "Import duty, consumption tax and VAT were assessed and collected."
    duty: Explained
    consumption_tax: Explained
    vat: Explained
    total: Decimal


# --- gateway -------------------------------------------------------------------------------


class Figures(Contract):
    """Outcome figures, filled in as the agencies report them (CNY unless named)."""

    declared_value: Decimal
    currency: str
    customs_value_cny: Decimal | None = None
    duty: Decimal | None = None
    consumption_tax: Decimal | None = None
    import_vat: Decimal | None = None
    taxes_total: Decimal | None = None
    settled_amount_cny: Decimal | None = None
    refund: Decimal | None = None


class DeclarationSubmitted(Event):
    TYPE: ClassVar[str] = "declaration.submitted"
    SUMMARY: ClassVar[str] = "A trader submitted a declaration to the single window."
    enterprise_id: str
    declaration: DeclarationData


class StatusChanged(Event):
    TYPE: ClassVar[str] = "declaration.status.changed"
    SUMMARY: ClassVar[str] = (
        "A declaration moved: its public status, saga state, agency steps and figures now."
    )
    enterprise_id: str
    direction: Direction
    trade_mode: TradeMode
    status: str
    state: str
    previous_state: str | None = None
    trigger: str = Field(description="the message type that caused the change")
    steps: dict[str, str]
    figures: Figures
    entry_id: str | None = None
    channel: str | None = None
    customs_status: str | None = None
    reason: str | None = None
