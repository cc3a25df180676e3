"""Customs: decode → rules → record → events, one function a command type."""

from __future__ import annotations

from schemas.envelope import Envelope, reply
from schemas.messages import (
    CloseDeclaration,
    DeclarationAccepted,
    DeclarationClosed,
    DetainGoods,
    FileDeclaration,
    GoodsDetained,
    GoodsReleased,
    ReleaseGoods,
)
from services.common.changes import Held, Put
from services.common.handling import Context, Handler, HandlerError, Outcome
from services.customs import rules
from services.customs.store import CustomsRecord

SOURCE = "customs"


def _held_record(envelope: Envelope, held: Held | None) -> CustomsRecord:
    if held is None:
        raise HandlerError(
            "unknown_declaration", f"customs holds no declaration {envelope.declaration_id}"
        )
    return CustomsRecord.model_validate_json(held.data)


def file_declaration(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Review a new declaration: accept with a risk channel, or reject naming the field."""
    command = envelope.payload
    assert isinstance(command, FileDeclaration)
    if held is not None:
        raise HandlerError(
            "already_filed", f"declaration {envelope.declaration_id} was filed before"
        )
    decl = command.declaration
    decision = rules.review(
        decl,
        declaration_id=envelope.declaration_id,
        ref=ctx.reference,
        rng=ctx.rng(envelope.declaration_id, "customs.channel"),
        when=ctx.now,
    )
    accepted = isinstance(decision, DeclarationAccepted)
    record = CustomsRecord(
        entry_id=decision.entry_id if isinstance(decision, DeclarationAccepted) else None,
        status_code=decision.status_code,
        channel=decision.channel if isinstance(decision, DeclarationAccepted) else None,
        direction=decl.direction.value,
        trade_mode=decl.trade_mode.value,
        declarant_uscc=decl.declarant.uscc,
        reason=None if accepted else getattr(decision, "reason", None),
    )
    put = Put.of(envelope.declaration_id, record, status=record.status_code, previous=None)
    return Outcome(put=put, emit=[reply(envelope, decision, source=SOURCE)])


def release_goods(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Release accepted goods (800)."""
    record = _held_record(envelope, held)
    if record.status_code not in ("120", "300", "500") or record.entry_id is None:
        raise HandlerError(
            "not_releasable", f"declaration in status {record.status_code} cannot be released"
        )
    updated = record.model_copy(update={"status_code": "800"})
    put = Put.of(envelope.declaration_id, updated, status="800", previous=held)
    return Outcome(
        put=put, emit=[reply(envelope, GoodsReleased(entry_id=record.entry_id), source=SOURCE)]
    )


def detain_goods(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Detain goods that failed inspection (501: handed to clearance)."""
    command = envelope.payload
    assert isinstance(command, DetainGoods)
    record = _held_record(envelope, held)
    if record.entry_id is None:
        raise HandlerError("not_accepted", "a rejected declaration has no goods to detain")
    updated = record.model_copy(update={"status_code": "501", "reason": command.reason})
    put = Put.of(envelope.declaration_id, updated, status="501", previous=held)
    event = GoodsDetained(
        entry_id=record.entry_id, reason_code=command.reason_code, reason=command.reason
    )
    return Outcome(put=put, emit=[reply(envelope, event, source=SOURCE)])


def close_declaration(envelope: Envelope, held: Held | None, ctx: Context) -> Outcome:
    """Close a released declaration (899, 结关)."""
    assert isinstance(envelope.payload, CloseDeclaration)
    record = _held_record(envelope, held)
    if record.status_code != "800" or record.entry_id is None:
        raise HandlerError(
            "not_closable", f"declaration in status {record.status_code} cannot be closed"
        )
    updated = record.model_copy(update={"status_code": "899"})
    put = Put.of(envelope.declaration_id, updated, status="899", previous=held)
    return Outcome(
        put=put, emit=[reply(envelope, DeclarationClosed(entry_id=record.entry_id), source=SOURCE)]
    )


HANDLERS: dict[str, Handler] = {
    FileDeclaration.TYPE: file_declaration,
    ReleaseGoods.TYPE: release_goods,
    DetainGoods.TYPE: detain_goods,
    CloseDeclaration.TYPE: close_declaration,
}
