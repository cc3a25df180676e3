"""Folding an event's facts into the saga: steps, figures, reasons."""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from gateway.saga.model import Saga
from gateway.saga.table import (
    ACCEPTED,
    CBEC_IMPORT_MODES,
    CLOSED,
    COLLECTED,
    DENIED,
    DETAINED,
    EXEMPTED,
    FAILED,
    PAID,
    PASSED,
    REFUSED,
    REGISTERED,
    REJECTED,
    RELEASED,
    SETTLED,
    SUMMARISED,
    TAX_REFUSED,
)
from schemas.base import Event
from schemas.messages import (
    DeclarationAccepted,
    DeclarationClosed,
    DeclarationRejected,
    ExportExempted,
    ExportsSummarised,
    GoodsDetained,
    GoodsReleased,
    ImportTaxesCollected,
    ImportTaxesRefused,
    InspectionFailed,
    PaymentRegistered,
    ReceiptSettled,
    RefundDenied,
    RefundPaid,
    Refusal,
    ReturnAssessed,
    TransactionRefused,
)
from schemas.trade import (
    PaymentSource,
)

STEP_OF_EVENT: Final[dict[str, tuple[str, str]]] = {
    ACCEPTED: ("customs", "accepted"),
    REJECTED: ("customs", "rejected"),
    RELEASED: ("customs", "released"),
    DETAINED: ("customs", "detained"),
    CLOSED: ("customs", "closed"),
    PASSED: ("inspection", "passed"),
    FAILED: ("inspection", "failed"),
    SETTLED: ("forex", "settled"),
    REGISTERED: ("forex", "registered"),
    PAID: ("tax", "refund_paid"),
    DENIED: ("tax", "refund_denied"),
    COLLECTED: ("tax", "collected"),
    SUMMARISED: ("customs", "summarised"),
    EXEMPTED: ("tax", "exempt"),
    REFUSED: ("forex", "refused"),
    TAX_REFUSED: ("tax", "refused"),
}


def explain(code: str, field: str | None, reason: str, reason_zh: str, rule: str | None) -> str:
    """`CODE field: reason (中文) [rule r]`: every refusal, rejection and failure reads so."""
    head = f"{code} {field}:" if field else f"{code}:"
    return f"{head} {reason} ({reason_zh})" + (f" [rule {rule}]" if rule else "")


def _refusal_reason(event: Refusal) -> str:
    return explain(event.reason_code, event.field, event.reason, event.reason_zh, event.rule)


def facts(saga: Saga, event: Event) -> dict[str, object]:
    """The fields of the saga an event changes: the facts and figures it reports."""
    update: dict[str, object] = {}
    figures = saga.figures
    if isinstance(event, DeclarationAccepted):
        update.update(
            entry_id=event.entry_id,
            channel=event.channel,
            customs_status=event.status_code,
            inspection_reason=event.inspection_reason,
            lines=event.lines,
        )
        figures = figures.model_copy(update={"customs_value_cny": event.total_value_cny})
        steps = dict(saga.steps)
        if not event.inspection_required:
            steps["inspection"] = "not_required"
        if saga.brief.trade_mode in CBEC_IMPORT_MODES:
            steps["forex"] = "not_required"  # the buyer pays the platform in CNY
        update["steps"] = steps
    elif isinstance(event, ExportsSummarised):
        # The refund and the FX records go against the summary 报关单 from now on.
        update.update(entry_id=event.entry_id, lines=event.lines)
    elif isinstance(event, DeclarationRejected):
        update.update(
            customs_status=event.status_code,
            failure_code=event.reason_code,
            reason=explain(
                event.reason_code, event.field, event.reason, event.reason_zh, event.rule
            )
            + "".join(f"; also {e.code} {e.field}" for e in event.errors[1:]),
        )
    elif isinstance(event, InspectionFailed):
        update.update(
            failure_code=event.reason_code,
            reason=explain(
                event.reason_code, event.field, event.reason, event.reason_zh, event.rule
            ),
        )
    elif isinstance(event, GoodsReleased) and saga.brief.payments is PaymentSource.API:
        update["customs_status"] = event.status_code
        if saga.steps.get("forex") == "waiting":
            update["steps"] = {**saga.steps, "forex": "awaiting_trader"}
    elif isinstance(event, GoodsReleased | GoodsDetained | DeclarationClosed):
        update["customs_status"] = event.status_code
    elif isinstance(event, ReceiptSettled | PaymentRegistered):
        earlier = (figures.settled_amount_cny or Decimal(0)) if event.tranche > 1 else Decimal(0)
        figures = figures.model_copy(
            update={
                "settled_amount_cny": earlier + event.amount_cny,
                "forex_outstanding": event.outstanding,
            }
        )
        if isinstance(event, ReceiptSettled) and event.reason_code == "F201":
            update["reason"] = (
                f"F201 short receipt: {event.received_total or event.amount} {event.currency} "
                f"received of {event.declared}, {event.outstanding} outstanding (收汇不足)"
            )
        elif event.tranche > 1 and not event.outstanding and (saga.reason or "").startswith("F201"):
            update["reason"] = None  # a later tranche settled the balance
    elif isinstance(event, ImportTaxesRefused):
        update.update(failure_code=event.reason_code, reason=_refusal_reason(event))
    elif isinstance(event, ReturnAssessed):
        figures = figures.model_copy(update={"tax_refunded": event.tax_refunded})
        if event.reason_code:
            update["reason"] = (
                f"{event.reason_code} returned_on: {event.reason} ({event.reason_zh})"
            )
    elif isinstance(event, TransactionRefused):
        update["reason"] = _refusal_reason(event)
    elif isinstance(event, RefundPaid):
        figures = figures.model_copy(update={"refund": event.refund.amount})
    elif isinstance(event, ExportExempted):
        figures = figures.model_copy(
            update={"refund": Decimal(0), "exempt_value": event.exempt_value}
        )
    elif isinstance(event, RefundDenied):
        figures = figures.model_copy(update={"refund": Decimal(0)})
        update["reason"] = "refund denied: " + explain(
            event.reason_code, event.field, event.reason, event.reason_zh, event.rule
        )
    elif isinstance(event, ImportTaxesCollected):
        figures = figures.model_copy(
            update={
                "duty": event.duty.amount,
                "consumption_tax": event.consumption_tax.amount,
                "import_vat": event.vat.amount,
                "taxes_total": event.total,
            }
        )
    step = STEP_OF_EVENT.get(event.TYPE)
    if isinstance(event, ReturnAssessed):
        step = ("tax", "returned" if event.within_window else "return_refused")
    steps = dict(update.get("steps", saga.steps))  # type: ignore[call-overload]
    if step:
        steps[step[0]] = step[1]
    update.update(steps=steps, figures=figures)
    return update
