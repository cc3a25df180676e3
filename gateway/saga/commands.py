"""The commands the saga sends, filled in from what it knows."""

from __future__ import annotations

from datetime import date

from gateway.saga.model import Saga, UnexpectedEvent
from gateway.saga.table import (
    ASSESS,
    CLOSE,
    DETAIN,
    INSPECT,
    REFUND,
    REGISTER,
    RELEASE,
    SETTLE,
    SUMMARISE,
)
from schemas.base import Command
from schemas.messages import (
    ApplyRefund,
    AssessImportTaxes,
    CloseDeclaration,
    DetainGoods,
    FileDeclaration,
    InspectGoods,
    RegisterPayment,
    ReleaseGoods,
    SettleReceipt,
    SummariseExports,
)
from schemas.scenarios import Forced, forced_outcome, scenario_for
from schemas.trade import (
    DeclarationData,
)


def _require_entry(saga: Saga) -> str:
    if saga.entry_id is None:
        raise UnexpectedEvent("no customs entry number yet")
    return saga.entry_id


def forced(saga: Saga) -> Forced | None:
    """The outcome the declaration forces (sandbox `scenario` or magic `reference`), if any."""
    return forced_outcome(saga.brief.scenario, saga.brief.reference)


def filing_command(declaration: DeclarationData, *, may_clear: bool) -> FileDeclaration:
    """The filing command: the declaration, with the scenario customs is to act on, and
    whether customs may release and close on its own (nothing paced holds the goods)."""
    told = scenario_for(forced_outcome(declaration.scenario, declaration.reference), "customs")
    if told is not declaration.scenario:
        declaration = declaration.model_copy(update={"scenario": told})
    return FileDeclaration(declaration=declaration, may_clear=may_clear)


def build_command(type_: str, saga: Saga) -> Command:
    """The command of a type, filled in from the saga; each agency told its forced outcome."""
    decl = saga.brief
    force = forced(saga)
    if type_ == INSPECT:
        return InspectGoods(
            direction=decl.direction,
            trade_mode=decl.trade_mode,
            hs_codes=decl.hs_codes,
            reason=saga.inspection_reason or "certificate of origin requested",
            scenario=scenario_for(force, "inspection"),
            lines=saga.lines,
            physical=saga.inspection_reason is not None,
            certificate_of_origin=decl.certificate_of_origin,
            destination=decl.counterparty_country,
        )
    if type_ == RELEASE:
        return ReleaseGoods(may_close=saga.paced is None)  # a paced class sees each step
    if type_ == DETAIN:
        return DetainGoods(
            reason_code=saga.failure_code or "I300", reason=saga.reason or "inspection failed"
        )
    if type_ == CLOSE:
        return CloseDeclaration()
    if type_ == SETTLE:
        return SettleReceipt(
            entry_id=_require_entry(saga),
            released_on=date.fromisoformat(saga.released_on) if saga.released_on else None,
            amount=decl.total_value,
            currency=decl.currency,
            declarant_uscc=decl.declarant_uscc,
            scenario=scenario_for(force, "forex"),
            buyer_share=force.share if force else None,
        )
    if type_ == REGISTER:
        return RegisterPayment(
            entry_id=_require_entry(saga),
            amount=decl.total_value,
            currency=decl.currency,
            declarant_uscc=decl.declarant_uscc,
            scenario=scenario_for(force, "forex"),
        )
    if type_ == REFUND:
        return ApplyRefund(
            entry_id=_require_entry(saga),
            lines=saga.lines,
            scenario=scenario_for(force, "tax"),
            trade_mode=decl.trade_mode,
            declarant_uscc=decl.declarant_uscc,
            filing=decl.tax_filing,
            customs_closed=saga.steps.get("customs") in ("closed", "summarised"),
            forex_settled=saga.steps.get("forex") == "settled",
        )
    if type_ == ASSESS:
        return AssessImportTaxes(
            entry_id=_require_entry(saga),
            lines=saga.lines,
            trade_mode=decl.trade_mode,
            buyer_id=decl.buyer_id,
            scenario=scenario_for(force, "tax"),
        )
    if type_ == SUMMARISE:
        return SummariseExports(entry_id=_require_entry(saga), ebc_uscc=decl.declarant_uscc)
    raise ValueError(f"no builder for command {type_}")
