"""Every message that crosses the bus: commands (gateway → agency) and events."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from schemas.base import Command, Contract, Event
from schemas.trade import (
    DeclarationData,
    Direction,
    OriginCertificate,
    Scenario,
    TaxFiling,
    TradeMode,
)


class ValueLine(Contract):
    """One goods line valued in CNY by customs, with its tariff line's rates when known."""

    hs_code: str
    value_cny: Decimal
    name: str | None = None
    duty_rate: Decimal | None = None
    vat_rate: Decimal | None = None
    consumption_tax_rate: Decimal | None = None
    refund_rate: Decimal | None = None
    supervision: str = Field(default="", description="supervision conditions, e.g. AB")
    inspection: str = Field(default="", description="inspection categories, e.g. MN")


class Receipt(Contract):
    """One receipt as the single window returns it: message, returnStatus and returnInfo."""

    message: str = Field(description="e.g. CEB622 or 报关单")
    status: str = Field(description="returnStatus, e.g. 120")
    info: str = Field(description="returnInfo, e.g. [Code:120;Desc:入库成功]")
    minutes: Decimal = Field(description="simulated minutes since filing (data, not a sleep)")


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
    may_clear: bool = Field(
        default=False,
        description="nothing at the gateway holds the goods (no pace, no test helper): customs "
        "may release and close on its own when its review needs nothing more (DeclarationAccepted"
        ".clears)",
    )

    @property
    def scenario(self) -> Scenario | None:
        """The sandbox scenario the declaration forces (None: the simulation decides)."""
        return self.declaration.scenario


class ReleaseGoods(Command):
    TYPE: ClassVar[str] = "customs.goods.release"
    SUMMARY: ClassVar[str] = "Release the goods (放行) once every check is in."
    may_close: bool = Field(
        default=False,
        description="nothing at the gateway holds the goods: customs may close on its own "
        "after the release (GoodsReleased.closes)",
    )


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
    document: str = Field(default="报关单", description="报关单, or the CEB list (CEB603/621)")
    invt_no: str | None = Field(default=None, description="18-character inventory number")
    pre_no: str | None = Field(default=None, description="B + 8-digit date + 9 digits")
    statistics_flag: str | None = Field(
        default=None, description="9610 list: A simplified (4-digit HS), B summarised"
    )
    post_clearance_audit: bool = Field(default=False, description="blue channel: audit later")
    certificate_requested: bool = Field(
        default=False, description="a certificate of origin was requested (export)"
    )
    risk: Explained | None = Field(default=None, description="the channel draw and its odds")
    receipts: tuple[Receipt, ...] = ()
    clears: bool = Field(
        default=False,
        description="customs releases and closes on its own: goods.released and "
        "declaration.closed follow without a command",
    )


class FieldError(Contract):
    """One invalid field: the code, the field's path, the rule, and why in English and Chinese."""

    code: str
    field: str
    rule: str | None = None
    reason: str
    reason_zh: str


class DeclarationRejected(Event):
    TYPE: ClassVar[str] = "customs.declaration.rejected"
    SUMMARY: ClassVar[str] = "Customs rejected the declaration (退单, status 100)."
    status_code: str = "100"
    reason_code: str
    field: str
    reason: str
    reason_zh: str
    rule: str | None = Field(default=None, description="the rule broken, e.g. tariff.hs_code")
    errors: tuple[FieldError, ...] = Field(default=(), description="every invalid field")
    receipts: tuple[Receipt, ...] = ()


class GoodsReleased(Event):
    TYPE: ClassVar[str] = "customs.goods.released"
    SUMMARY: ClassVar[str] = "Customs released the goods (放行, status 800)."
    entry_id: str
    status_code: str = "800"
    receipts: tuple[Receipt, ...] = ()
    closes: bool = Field(
        default=False, description="customs closes on its own: declaration.closed follows"
    )


class GoodsDetained(Event):
    TYPE: ClassVar[str] = "customs.goods.detained"
    SUMMARY: ClassVar[str] = "Customs detained the goods (status 501-599)."
    entry_id: str
    status_code: str = "501"
    reason_code: str
    reason: str
    receipts: tuple[Receipt, ...] = ()


class DeclarationClosed(Event):
    TYPE: ClassVar[str] = "customs.declaration.closed"
    SUMMARY: ClassVar[str] = "Customs closed the declaration (结关, status 899)."
    entry_id: str
    status_code: str = "899"
    receipts: tuple[Receipt, ...] = ()


class SummariseExports(Command):
    TYPE: ClassVar[str] = "customs.summary.apply"
    SUMMARY: ClassVar[str] = "Summarise 9610 export lists into a 报关单 (CEB701 汇总申报)."
    entry_id: str
    ebc_uscc: str = Field(default="", description="the enterprise whose month this list joins")

    def partition_key(self) -> str | None:
        """One enterprise's summaries on one partition, so one customs replica owns its
        month's summary record (a hot row otherwise raced by every replica)."""
        return f"summary|{self.ebc_uscc}" if self.ebc_uscc else None


class ExportsSummarised(Event):
    TYPE: ClassVar[str] = "customs.summary.concluded"
    SUMMARY: ClassVar[str] = "The 9610 lists were summarised into a 报关单 (CEB702 / CEB792)."
    sum_no: str
    entry_id: str = Field(description="the 报关单 number the refund and FX are filed against")
    period_start: str
    period_end: str
    lines: tuple[ValueLine, ...]
    total_value_cny: Decimal
    receipts: tuple[Receipt, ...] = ()
    lists_in_summary: int = Field(
        default=1, description="the enterprise's lists in this month's summary so far"
    )
    summary_value_cny: Decimal | None = Field(
        default=None, description="the month's summary value so far, this list included"
    )


# --- inspection ----------------------------------------------------------------------------


class InspectGoods(Command):
    TYPE: ClassVar[str] = "inspection.goods.inspect"
    SUMMARY: ClassVar[str] = "Inspect the goods (商检) for the reason customs gave."
    direction: Direction
    trade_mode: TradeMode
    hs_codes: tuple[str, ...]
    reason: str
    scenario: Scenario | None = None
    lines: tuple[ValueLine, ...] = ()
    physical: bool = Field(default=True, description="False: only a certificate of origin")
    certificate_of_origin: OriginCertificate | None = None
    destination: str | None = None


class OriginCertified(Contract):
    """A certificate of origin issued, or the reason the requested one was not."""

    requested: OriginCertificate
    issued: OriginCertificate | None
    number: str | None
    note: str
    note_zh: str


class InspectionPassed(Event):
    TYPE: ClassVar[str] = "inspection.goods.passed"
    SUMMARY: ClassVar[str] = "Inspection & quarantine passed; a certificate number is issued."
    certificate_no: str
    inspected: bool = True
    categories: str = ""
    checks: tuple[str, ...] = ()
    hours: Decimal | None = Field(default=None, description="simulated duration (data)")
    origin: OriginCertified | None = None


class InspectionFailed(Event):
    TYPE: ClassVar[str] = "inspection.goods.failed"
    SUMMARY: ClassVar[str] = "Inspection & quarantine failed, with the reason."
    reason_code: str
    reason: str
    reason_zh: str
    hs_code: str | None = None
    hours: Decimal | None = Field(default=None, description="simulated duration (data)")
    field: str | None = Field(default=None, description="the failing line, e.g. items[0].hs_code")
    rule: str | None = Field(default=None, description="the standard failed, e.g. GB 7718")


# --- forex ---------------------------------------------------------------------------------


class ForexFiling(Command):
    """A receipt or payment filed with forex against a declaration's declared value."""

    entry_id: str
    amount: Decimal
    currency: str
    declarant_uscc: str | None = None
    registration_no: str | None = Field(
        default=None, description="class C: the SAFE registration made before the transaction"
    )
    via_api: bool = Field(default=False, description="registered by the trader (POST .../payments)")
    scenario: Scenario | None = None


class SettleReceipt(ForexFiling):
    TYPE: ClassVar[str] = "forex.receipt.settle"
    SUMMARY: ClassVar[str] = "Match the buyer's payment to the declaration and settle it (结汇)."
    received: Decimal | None = Field(default=None, description="None: the simulated buyer pays")
    days_after_export: int | None = None
    received_on: date | None = Field(
        default=None, description="value date of a receipt registered through the API"
    )
    received_currency: str | None = Field(default=None, description="API: currency received")
    buyer_share: Decimal | None = Field(
        default=None, description="sandbox: the share of the declared value the buyer pays"
    )
    released_on: date | None = Field(
        default=None,
        description="Beijing day the goods were released (sandbox clock): a simulated buyer's "
        "receipt comes no sooner than the days forex's clock shows since then",
    )


class RegisterPayment(ForexFiling):
    TYPE: ClassVar[str] = "forex.payment.register"
    SUMMARY: ClassVar[str] = "Register the import payment abroad against the declaration."
    paid: Decimal | None = Field(default=None, description="None: the simulated payment")
    paid_on: date | None = Field(default=None, description="value date of an API payment")
    paid_currency: str | None = Field(default=None, description="API: currency paid")


class ForexMatched(Event):
    """A receipt or payment matched to the declared value (on the total of every tranche)."""

    tranche: int = Field(default=1, description="2, 3, …: a later part of a short amount")
    received_total: Decimal | None = Field(default=None, description="all tranches so far")
    amount: Decimal
    currency: str
    rate: Decimal
    amount_cny: Decimal
    declared: Decimal | None = None
    match: str = Field(default="matched", description="matched, partial, over or late")
    outstanding: Decimal = Decimal(0)
    held: Decimal = Field(default=Decimal(0), description="excess held back, pending review")
    fx_class: str = "A"
    registration_no: str | None = Field(default=None, description="class C: SAFE registration")
    rate_date: str | None = None
    checks: tuple[str, ...] = ()
    findings: tuple[FieldError, ...] = Field(
        default=(), description="partial (F201), over (F202), late (F203), with the rule"
    )


class ReceiptSettled(ForexMatched):
    TYPE: ClassVar[str] = "forex.receipt.settled"
    SUMMARY: ClassVar[str] = "The export receipt was matched and settled into CNY."
    reason_code: str | None = Field(
        default=None, description="F201 short receipt, F202 over-receipt held, F203 late"
    )
    settlement: Explained | None = None


class PaymentRegistered(ForexMatched):
    TYPE: ClassVar[str] = "forex.payment.registered"
    SUMMARY: ClassVar[str] = "The import payment was registered against the declaration."


class Refusal(Event):
    """An agency's refusal: the code, the field, the rule, and why in English and Chinese."""

    reason_code: str
    field: str
    rule: str
    reason: str
    reason_zh: str


class TransactionRefused(Refusal):
    TYPE: ClassVar[str] = "forex.transaction.refused"
    SUMMARY: ClassVar[str] = (
        "The bank refused to settle a receipt or register a payment the trader filed (e.g. a "
        "class C enterprise without its SAFE registration); the trader may file it again."
    )
    fx_class: str


# --- tax -----------------------------------------------------------------------------------


class ApplyRefund(Command):
    TYPE: ClassVar[str] = "tax.refund.apply"
    SUMMARY: ClassVar[str] = "Apply for the export VAT refund (退税)."
    entry_id: str
    lines: tuple[ValueLine, ...]
    scenario: Scenario | None = None
    trade_mode: TradeMode | None = None
    declarant_uscc: str | None = None
    filing: TaxFiling | None = None
    customs_closed: bool = True
    forex_settled: bool = True


class AssessImportTaxes(Command):
    TYPE: ClassVar[str] = "tax.import.assess"
    SUMMARY: ClassVar[str] = "Assess and collect import duty, consumption tax and VAT."
    entry_id: str
    lines: tuple[ValueLine, ...]
    trade_mode: TradeMode | None = None
    buyer_id: str | None = Field(default=None, description="CBEC retail: the buyer's ID number")
    scenario: Scenario | None = None


class RefundPaid(Event):
    TYPE: ClassVar[str] = "tax.refund.paid"
    SUMMARY: ClassVar[str] = "The export VAT refund was approved and paid."
    refund: Explained
    lines: tuple[Explained, ...]
    method: str = Field(default="免退", description="免退 (trading firm) or 免抵退 (manufacturer)")
    steps: tuple[Explained, ...] = Field(default=(), description="免抵退: the four steps")
    exempt_credit: Decimal | None = Field(default=None, description="免抵退: 免抵 amount")


class RefundDenied(Event):
    TYPE: ClassVar[str] = "tax.refund.denied"
    SUMMARY: ClassVar[str] = "The export VAT refund was denied, with the reason."
    reason_code: str
    reason: str
    reason_zh: str
    field: str | None = Field(default=None, description="what the denial is about")
    rule: str | None = Field(default=None, description="the rule applied, e.g. tax.refund.rate")


class ExportExempted(Event):
    TYPE: ClassVar[str] = "tax.refund.exempted"
    SUMMARY: ClassVar[str] = "9610 无票免税: exempt from VAT and CT, nothing refunded."
    rule: str
    exempt_value: Decimal
    reason: str
    reason_zh: str


class ImportTaxesCollected(Event):
    TYPE: ClassVar[str] = "tax.import.collected"
    SUMMARY: ClassVar[str] = "Import duty, consumption tax and VAT were assessed and collected."
    duty: Explained
    consumption_tax: Explained
    vat: Explained
    total: Decimal
    regime: str = Field(default="general", description="general, or cbec_retail (70%)")
    message: str | None = Field(default=None, description="CEB816 for CBEC retail")
    lines: tuple[Explained, ...] = ()
    quota: Explained | None = Field(default=None, description="CBEC: buyer's annual quota")


class ImportTaxesRefused(Refusal):
    TYPE: ClassVar[str] = "tax.import.refused"
    SUMMARY: ClassVar[str] = (
        "A CBEC retail import over the buyer's annual limit: refused, general trade only."
    )
    quota: Explained | None = Field(default=None, description="the buyer's annual quota")


class RegisterReturn(Command):
    TYPE: ClassVar[str] = "tax.return.register"
    SUMMARY: ClassVar[str] = (
        "A CBEC retail import returned (CEB625): refund its tax, restore quota."
    )
    returned_on: date = Field(description="day the return was applied for (Beijing)")


class ReturnAssessed(Event):
    TYPE: ClassVar[str] = "tax.return.assessed"
    SUMMARY: ClassVar[str] = (
        "A CBEC retail return (CEB626): within the window the tax is refunded and the buyer's "
        "annual quota restored; after it, neither."
    )
    message: str = "CEB626"
    within_window: bool
    days_after_release: int
    tax_refunded: Decimal
    quota: Explained = Field(description="the buyer's annual quota after the return")
    reason_code: str | None = Field(default=None, description="T302 when outside the window")
    reason: str
    reason_zh: str


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
    forex_outstanding: Decimal | None = Field(
        default=None, description="receipt or payment still to come (declaration's currency)"
    )
    refund: Decimal | None = None
    exempt_value: Decimal | None = None
    tax_refunded: Decimal | None = Field(default=None, description="CBEC return: tax refunded")


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
