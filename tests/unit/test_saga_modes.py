"""The per-trade-mode saga tables: 9610 export (monthly summary, 无票免税) and CBEC retail import."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from gateway import saga as sagas
from gateway.saga import (
    EXPORT,
    EXPORT_9610,
    IMPORT,
    IMPORT_CBEC,
    TERMINAL,
    Saga,
    Transition,
    advance,
    build_command,
    start,
    table_for,
)
from schemas.base import Event
from schemas.envelope import new_envelope
from schemas.messages import (
    ApplyRefund,
    AssessImportTaxes,
    DeclarationAccepted,
    DeclarationClosed,
    DeclarationRejected,
    Explained,
    ExportExempted,
    ExportsSummarised,
    FieldError,
    GoodsDetained,
    GoodsReleased,
    ImportTaxesCollected,
    ImportTaxesRefused,
    InspectGoods,
    InspectionFailed,
    InspectionPassed,
    ReceiptSettled,
    RefundDenied,
    RefundPaid,
    ReturnAssessed,
    SettleReceipt,
    SummariseExports,
    ValueLine,
)
from schemas.trade import (
    DeclarationData,
    Direction,
    OriginCertificate,
    TaxFiling,
    TradeMode,
)
from tests.unit.builders import declaration, guarded, item

D = Decimal
ENTRY, SUMMARY_ENTRY = "531620250000000001", "531620250999999999"
LINES = (ValueLine(hs_code="8517130000", value_cny=D("85200.00"), refund_rate=D("0.13")),)
RETAIL_9610 = declaration(item("8517130000", "100", "120.00"), trade_mode=TradeMode.CBEC_RETAIL)
RETAIL_IMPORT = declaration(
    item("1901101000", "1", "3000"),
    direction=Direction.IMPORT,
    trade_mode=TradeMode.CBEC_BONDED,
    currency="CNY",
    counterparty="AUS",
)
X = Explained(amount=D("273.00"), base=D("3000.00"), rate=D("0.091"), formula="x")


def _accepted(*, inspection: bool, certificate: bool = False) -> Event:
    return DeclarationAccepted(
        entry_id=ENTRY,
        channel="red" if inspection else "green",
        inspection_required=inspection,
        inspection_reason="red channel" if inspection else None,
        fx_rate=D("7.1000"),
        lines=LINES,
        total_value_cny=D("85200.00"),
        certificate_requested=certificate,
    )


EVENTS: dict[str, Callable[[], Event]] = {
    DeclarationRejected.TYPE: lambda: DeclarationRejected(
        reason_code="C102", field="items[0].hs_code", reason="r", reason_zh="z"
    ),
    InspectionPassed.TYPE: lambda: InspectionPassed(certificate_no="4403E000000000001"),
    InspectionFailed.TYPE: lambda: InspectionFailed(reason_code="I301", reason="r", reason_zh="z"),
    GoodsReleased.TYPE: lambda: GoodsReleased(entry_id=ENTRY),
    GoodsDetained.TYPE: lambda: GoodsDetained(entry_id=ENTRY, reason_code="I301", reason="r"),
    DeclarationClosed.TYPE: lambda: DeclarationClosed(entry_id=ENTRY),
    ReceiptSettled.TYPE: lambda: ReceiptSettled(
        amount=D("12000.00"), currency="USD", rate=D("7.0950"), amount_cny=D("85140.00")
    ),
    ExportsSummarised.TYPE: lambda: ExportsSummarised(
        sum_no="5316202503000000001",
        entry_id=SUMMARY_ENTRY,
        period_start="2025-03-01",
        period_end="2025-03-31",
        lines=LINES,
        total_value_cny=D("85200.00"),
    ),
    RefundPaid.TYPE: lambda: RefundPaid(refund=X, lines=(X,)),
    RefundDenied.TYPE: lambda: RefundDenied(reason_code="T202", reason="r", reason_zh="z"),
    ExportExempted.TYPE: lambda: ExportExempted(
        rule="Caishui [2018] No. 103", exempt_value=D("85200.00"), reason="r", reason_zh="z"
    ),
    ImportTaxesCollected.TYPE: lambda: ImportTaxesCollected(
        duty=X, consumption_tax=X, vat=X, total=D("273.00"), regime="cbec_retail"
    ),
    ImportTaxesRefused.TYPE: lambda: ImportTaxesRefused(
        reason_code="T301",
        field="cbec.buyer_id_number",
        rule="cbec.annual_limit",
        reason="r",
        reason_zh="z",
    ),
    ReturnAssessed.TYPE: lambda: ReturnAssessed(
        within_window=True,
        days_after_release=3,
        tax_refunded=D("273.00"),
        quota=X,
        reason="r",
        reason_zh="z",
    ),
}


def _event_for(row: Transition) -> Event:
    if row.on == DeclarationAccepted.TYPE:
        return guarded(row.when, _accepted(inspection=row.when == "inspection required"))
    return guarded(row.when, EVENTS[row.on]())


def _saga_in(state: str, decl: DeclarationData) -> Saga:
    begun = start("d-1", "ent-1", decl).saga
    if state == "customs_review":
        return begun
    steps = dict(begun.steps, customs="closed", forex="settled")
    return begun.model_copy(
        update={"state": state, "entry_id": ENTRY, "lines": LINES, "events_seen": 1, "steps": steps}
    )


def _feed(saga: Saga, event: Event) -> sagas.Advance:
    return advance(saga, new_envelope(event, declaration_id="d-1", source="test"))


ROWS = [(RETAIL_9610, r) for r in EXPORT_9610] + [(RETAIL_IMPORT, r) for r in IMPORT_CBEC]


@pytest.mark.parametrize(
    ("decl", "row"),
    [
        pytest.param(d, r, id=f"{d.direction.value}-{d.trade_mode.value}:{r.state}+{r.on}->{r.to}")
        for d, r in ROWS
    ],
)
def test_every_mode_table_row_moves_the_saga_and_sends_its_commands(
    decl: DeclarationData, row: Transition
) -> None:
    step = _feed(_saga_in(row.state, decl), _event_for(row))
    assert step.saga.state == row.to
    assert tuple(c.TYPE for c in step.commands) == row.commands


@pytest.mark.parametrize(
    ("direction", "mode", "table"),
    [
        (Direction.EXPORT, TradeMode.GENERAL, EXPORT),
        (Direction.EXPORT, TradeMode.CBEC_RETAIL, EXPORT_9610),
        (Direction.EXPORT, TradeMode.CBEC_B2B_DIRECT, EXPORT),
        (Direction.EXPORT, TradeMode.CBEC_B2B_WAREHOUSE, EXPORT),
        (Direction.IMPORT, TradeMode.GENERAL, IMPORT),
        (Direction.IMPORT, TradeMode.CBEC_RETAIL, IMPORT_CBEC),
        (Direction.IMPORT, TradeMode.CBEC_BONDED, IMPORT_CBEC),
    ],
)
def test_each_trade_mode_has_its_table(
    direction: Direction, mode: TradeMode, table: tuple[Transition, ...]
) -> None:
    assert table_for(declaration(direction=direction, trade_mode=mode)) is table


@pytest.mark.parametrize("table", [EXPORT_9610, IMPORT_CBEC])
def test_mode_tables_have_no_dead_ends_and_fit_on_a_screen(table: tuple[Transition, ...]) -> None:
    states = {r.state for r in table} | {r.to for r in table}
    for state in states - TERMINAL:
        assert any(r.state == state for r in table), f"{state} has no way out"
    assert len({(r.state, r.on, r.when) for r in table}) == len(table) <= 20


def test_9610_export_is_summarised_before_the_refund_and_may_end_exempt() -> None:
    saga = _saga_in("closing", RETAIL_9610)
    step = _feed(saga, DeclarationClosed(entry_id=ENTRY))
    (summarise,) = step.commands
    assert isinstance(summarise, SummariseExports) and step.saga.state == "summarising"
    step = _feed(step.saga, EVENTS[ExportsSummarised.TYPE]())
    (refund,) = step.commands
    assert isinstance(refund, ApplyRefund)
    # The refund is filed against the summary 报关单, with the trade mode and the declarant.
    assert (refund.entry_id, refund.trade_mode, refund.customs_closed) == (
        SUMMARY_ENTRY,
        TradeMode.CBEC_RETAIL,
        True,
    )
    assert step.saga.steps["customs"] == "summarised"
    done = _feed(step.saga, EVENTS[ExportExempted.TYPE]()).saga
    assert (done.state, done.steps["tax"]) == ("completed", "exempt")
    assert (done.figures.refund, done.figures.exempt_value) == (D(0), D("85200.00"))


def test_retail_import_needs_no_forex_and_assesses_for_the_buyer() -> None:
    decl = RETAIL_IMPORT
    step = _feed(start("d-1", "ent-1", decl).saga, _accepted(inspection=False))
    (assess,) = step.commands
    assert isinstance(assess, AssessImportTaxes)
    assert assess.trade_mode is TradeMode.CBEC_BONDED
    assert step.saga.steps["forex"] == "not_required"
    step = _feed(step.saga, EVENTS[ImportTaxesCollected.TYPE]())
    step = _feed(step.saga, GoodsReleased(entry_id=ENTRY))
    assert [c.TYPE for c in step.commands] == ["customs.declaration.close"]
    done = _feed(step.saga, DeclarationClosed(entry_id=ENTRY)).saga
    assert done.state == "completed" and done.figures.taxes_total == D("273.00")


def test_a_certificate_request_sends_a_documents_only_inspection() -> None:
    decl = RETAIL_9610.model_copy(
        update={"certificate_of_origin": OriginCertificate.RCEP, "counterparty_country": "JPN"}
    )
    step = _feed(start("d-1", "ent-1", decl).saga, _accepted(inspection=False, certificate=True))
    (inspect,) = step.commands
    assert isinstance(inspect, InspectGoods)
    assert (inspect.physical, inspect.certificate_of_origin, inspect.destination) == (
        False,
        OriginCertificate.RCEP,
        "JPN",
    )
    assert inspect.lines == LINES


def test_commands_carry_the_declarant_and_the_filing() -> None:
    decl = RETAIL_9610.model_copy(update={"tax_filing": TaxFiling(no_purchase_invoice=True)})
    saga = _saga_in("refunding", decl)
    refund = build_command(ApplyRefund.TYPE, saga)
    assert isinstance(refund, ApplyRefund)
    assert refund.filing == TaxFiling(no_purchase_invoice=True)
    assert refund.declarant_uscc == decl.declarant.uscc
    settle = build_command(SettleReceipt.TYPE, saga)
    assert isinstance(settle, SettleReceipt) and settle.declarant_uscc == decl.declarant.uscc


def test_a_rejection_reason_names_the_rule_and_every_other_invalid_field() -> None:
    rejected = DeclarationRejected(
        reason_code="C102",
        field="items[0].hs_code",
        rule="tariff.hs_code",
        reason="HS 8517999999 is not a line of the customs tariff",
        reason_zh="商品编码8517999999不在海关税则中",
        errors=(
            FieldError(code="C102", field="items[0].hs_code", reason="r", reason_zh="z"),
            FieldError(code="C103", field="items", reason="r", reason_zh="z"),
        ),
    )
    saga = _feed(start("d-1", "ent-1", RETAIL_9610).saga, rejected).saga
    assert saga.reason == (
        "C102 items[0].hs_code: HS 8517999999 is not a line of the customs tariff "
        "(商品编码8517999999不在海关税则中) [rule tariff.hs_code]; also C103 items"
    )


def test_a_retail_import_over_the_annual_limit_is_rejected_naming_the_rule() -> None:
    saga = _saga_in("assessing", RETAIL_IMPORT)
    done = _feed(saga, EVENTS[ImportTaxesRefused.TYPE]()).saga
    assert (done.state, done.steps["tax"], done.failure_code) == ("rejected", "refused", "T301")
    assert done.reason == "T301 cbec.buyer_id_number: r (z) [rule cbec.annual_limit]"


def test_a_return_after_completion_refunds_the_tax_or_says_why_not() -> None:
    saga = _saga_in("completed", RETAIL_IMPORT)
    returned = _feed(saga, EVENTS[ReturnAssessed.TYPE]()).saga
    assert (returned.state, returned.steps["tax"], returned.figures.tax_refunded) == (
        "completed",
        "returned",
        D("273.00"),
    )
    late = ReturnAssessed(
        within_window=False,
        days_after_release=31,
        tax_refunded=D(0),
        quota=X,
        reason_code="T302",
        reason="late",
        reason_zh="晚",
    )
    refused = _feed(saga, late).saga
    assert refused.steps["tax"] == "return_refused"
    assert refused.reason == "T302 returned_on: late (晚)"
