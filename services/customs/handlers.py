"""Customs: decode → rules → record → events, one function a command type."""

from __future__ import annotations

from decimal import Decimal

from schemas.envelope import Envelope, reply
from schemas.messages import (
    CloseDeclaration,
    DeclarationAccepted,
    DeclarationClosed,
    DetainGoods,
    FileDeclaration,
    GoodsDetained,
    GoodsReleased,
    Receipt,
    ReleaseGoods,
    SummariseExports,
)
from schemas.trade import Direction
from schemas.units import BEIJING
from services.common.changes import Held, Put
from services.common.handling import Context, HandlerError, Outcome, by_command, only_once
from services.customs import rules
from services.customs.store import CustomsRecord, MonthSummary, serial_key, summary_key

SOURCE = "customs"


def _held_record(envelope: Envelope, held: Held | None) -> CustomsRecord:
    if held is None:
        raise HandlerError(
            "unknown_declaration", f"customs holds no declaration {envelope.declaration_id}"
        )
    return CustomsRecord.model_validate_json(held.data)


def file_declaration(
    command: FileDeclaration, envelope: Envelope, held: Held | None, ctx: Context
) -> Outcome:
    """Review a new declaration: accept with a risk channel, or reject naming the field."""
    only_once(held, "already_filed", f"declaration {envelope.declaration_id} was filed before")
    decl = command.declaration
    local = ctx.now.astimezone(BEIJING)
    district, year = ctx.reference.district, f"{local.year}"
    io = "I" if decl.direction.value == "import" else "E"
    counters = {  # serials come in blocks a replica claims (services/common/counters.py)
        "entry": ctx.ticket(serial_key("entry", district, year, io)),
        "invt": ctx.ticket(serial_key("invt", district, year, io)),
        "pre": ctx.ticket(serial_key("pre", f"{local:%Y%m%d}")),
    }
    decision = rules.review(
        decl,
        declaration_id=envelope.declaration_id,
        ref=ctx.reference,
        rng=ctx.rng(envelope.declaration_id, "customs.channel"),
        when=ctx.now,
        serials=rules.Serials(**{k: c.number for k, c in counters.items()}),
    )
    also: list[Put] = []
    if isinstance(decision, DeclarationAccepted):
        used = ("entry", "invt", "pre") if decision.invt_no else ("entry",)
        also = [claim for k in used for claim in ctx.take(counters[k])]
        record = CustomsRecord(
            entry_id=decision.entry_id,
            status_code=decision.status_code,
            channel=decision.channel,
            direction=decl.direction.value,
            trade_mode=decl.trade_mode.value,
            declarant_uscc=decl.declarant.uscc,
            document=decision.document,
            invt_no=decision.invt_no,
            lines=decision.lines,
        )
    else:
        record = CustomsRecord(
            entry_id=None,
            status_code=decision.status_code,
            direction=decl.direction.value,
            trade_mode=decl.trade_mode.value,
            declarant_uscc=decl.declarant.uscc,
            reason=decision.reason,
            document=rules.document_of(decl, ctx.reference),
        )
    emit = [reply(envelope, decision, source=SOURCE)]
    clears = isinstance(decision, DeclarationAccepted) and rules.clears(decision, decl.direction)
    if clears and command.may_clear:  # nothing holds the goods: accepted, released, closed
        emit = [reply(envelope, decision.model_copy(update={"clears": True}), source=SOURCE)]
        record, cleared = _clear(envelope, record, ctx)
        emit.extend(cleared)
    put = Put.of(envelope.declaration_id, record, status=record.status_code, previous=None)
    return Outcome(put=put, emit=emit, also=also)


def _release(record: CustomsRecord, ctx: Context) -> tuple[CustomsRecord, GoodsReleased]:
    """Release accepted goods (800): the record after it, and the event."""
    if record.status_code not in ("120", "300", "399", "500") or record.entry_id is None:
        raise HandlerError(
            "not_releasable", f"declaration in status {record.status_code} cannot be released"
        )
    minutes: Decimal = ctx.reference.minutes["release"]
    trail: tuple[Receipt, ...] = (rules.receipt(rules.receipt_of(record.document), "800", minutes),)
    if record.direction == "export" and record.document != "报关单":
        # Lists are released once the site operator's arrival notice (运抵) is in.
        arrival = rules.receipt("CEB508", "120", minutes, "运抵 arrival notice CEB507")
        trail = (arrival, *trail)
    event = GoodsReleased(entry_id=record.entry_id, receipts=trail)
    return record.model_copy(update={"status_code": "800"}), event


def _close(record: CustomsRecord, ctx: Context) -> tuple[CustomsRecord, DeclarationClosed]:
    """Close a released declaration (899, 结关): the record after it, and the event."""
    if record.status_code != "800" or record.entry_id is None:
        raise HandlerError(
            "not_closable", f"declaration in status {record.status_code} cannot be closed"
        )
    answer = rules.receipt_of(record.document)
    # Exports close on the departure notice (离境 CEB509 → 899); imports on entry.
    note = "离境 departure notice CEB509 received" if record.direction == "export" else "entry"
    trail = (rules.receipt(answer, "899", ctx.reference.minutes["close"], note),)
    event = DeclarationClosed(entry_id=record.entry_id, receipts=trail)
    return record.model_copy(update={"status_code": "899"}), event


def _clear(
    envelope: Envelope, record: CustomsRecord, ctx: Context
) -> tuple[CustomsRecord, list[Envelope]]:
    """Customs' own course from here: release and close, each event a reply to `envelope`."""
    released_record, released = _release(record, ctx)
    closed_record, closed = _close(released_record, ctx)
    released = released.model_copy(update={"closes": True})
    return closed_record, [reply(envelope, e, source=SOURCE) for e in (released, closed)]


def release_goods(
    command: ReleaseGoods, envelope: Envelope, held: Held | None, ctx: Context
) -> Outcome:
    """Release accepted goods (800); close them too when the gateway holds nothing back."""
    record = _held_record(envelope, held)
    if command.may_close:
        updated, emit = _clear(envelope, record, ctx)
    else:
        updated, released = _release(record, ctx)
        emit = [reply(envelope, released, source=SOURCE)]
    put = Put.of(envelope.declaration_id, updated, status=updated.status_code, previous=held)
    return Outcome(put=put, emit=emit)


def detain_goods(
    command: DetainGoods, envelope: Envelope, held: Held | None, ctx: Context
) -> Outcome:
    """Detain goods that failed inspection (501: handed to clearance)."""
    record = _held_record(envelope, held)
    if record.entry_id is None:
        raise HandlerError("not_accepted", "a rejected declaration has no goods to detain")
    status = rules.detention_status(command.reason_code, ctx.reference)
    updated = record.model_copy(update={"status_code": status, "reason": command.reason})
    put = Put.of(envelope.declaration_id, updated, status=status, previous=held)
    trail = (rules.receipt(rules.receipt_of(record.document), status, Decimal(0), command.reason),)
    event = GoodsDetained(
        entry_id=record.entry_id,
        status_code=status,
        reason_code=command.reason_code,
        reason=command.reason,
        receipts=trail,
    )
    return Outcome(put=put, emit=[reply(envelope, event, source=SOURCE)])


def close_declaration(
    command: CloseDeclaration, envelope: Envelope, held: Held | None, ctx: Context
) -> Outcome:
    """Close a released declaration (899, 结关)."""
    updated, event = _close(_held_record(envelope, held), ctx)
    put = Put.of(envelope.declaration_id, updated, status="899", previous=held)
    return Outcome(put=put, emit=[reply(envelope, event, source=SOURCE)])


def summarise_exports(
    command: SummariseExports, envelope: Envelope, held: Held | None, ctx: Context
) -> Outcome:
    """Summarise a closed 9610 export list into a 报关单 (汇总申报)."""
    record = _held_record(envelope, held)
    if record.status_code != "899" or record.trade_mode != "9610":
        raise HandlerError(
            "not_summarisable",
            f"only a closed 9610 list can be summarised (status {record.status_code})",
        )
    local = ctx.now.astimezone(BEIJING)
    district = ctx.reference.district
    key = summary_key(record.declarant_uscc, f"{local:%Y%m}")
    month_held = ctx.record(key)
    tickets = []
    if month_held is not None:
        month = MonthSummary.model_validate_json(month_held.data)
    else:  # the enterprise's first list of the month: the summary gets its numbers
        tickets = [
            ctx.ticket(serial_key("sum", district, f"{local:%Y%m}")),
            ctx.ticket(serial_key("entry", district, f"{local.year}", "E")),
        ]
        month = MonthSummary(
            sum_no=f"{district}{local:%Y%m}{tickets[0].number:09d}",
            entry_id=rules.entry_id(district, ctx.now, Direction.EXPORT, "", tickets[1].number),
        )
    event = rules.summarise(
        declaration_id=envelope.declaration_id,
        ebc_uscc=record.declarant_uscc,
        lines=record.lines,
        ref=ctx.reference,
        when=ctx.now,
        month_so_far=month.lists,
        numbers=(month.sum_no, month.entry_id),
    )
    updated = record.model_copy(update={"summary_entry_id": event.entry_id})
    put = Put.of(envelope.declaration_id, updated, status="899", previous=held)
    lists = {**month.lists, envelope.declaration_id: event.total_value_cny}
    also = [claim for ticket in tickets for claim in ctx.take(ticket)]
    also.append(
        Put.of(
            key, month.model_copy(update={"lists": lists}), status="summary", previous=month_held
        )
    )
    return Outcome(put=put, emit=[reply(envelope, event, source=SOURCE)], also=also)


HANDLERS = by_command(
    SOURCE,
    {
        FileDeclaration: file_declaration,
        ReleaseGoods: release_goods,
        DetainGoods: detain_goods,
        CloseDeclaration: close_declaration,
        SummariseExports: summarise_exports,
    },
)
