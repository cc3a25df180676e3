"""Receipts that follow the saga: a list's CEB622/604 receipts after the door's first one,
and the CEB816 tax bill, derived from the committed status changes of its declaration.

A consumer of the public status topic (group `sw-gateway-ceb`): every path that moves a
saga is heard, and the saga's hot transaction does not change. (Webhooks moved to the
Database's tap, gateway/webhooks/recorder.py; a tap would serve here too, at the price of reads inside
the saga's transaction: this reader is the gateway's only one of its own status topic.) Each status message of a declaration a CEB list became
(`ceb_documents.declaration_id`) is turned into receipts from the agency event that caused
it (read back from the journal: customs' `receipts`, tax's figures); the mailbox's unique
(guid, message, returnStatus) makes a redelivered batch write nothing twice, so no inbox is
needed. Other declarations cost no transaction: 0110, 9710 and 9810 are skipped unread, a
JSON 9610/1210 costs one batched read, once.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from gateway.ceb import store
from gateway.ceb.codes import CATALOGUE, TAX_BILL
from gateway.ceb.receipts import KEYS, Receipt, info, receipt_xml
from gateway.ceb.webhook import queue_receipts
from schemas.deadletter import DeadLetter
from schemas.envelope import Envelope
from schemas.messages import StatusChanged
from schemas.topics import CEB_RECEIPTS_GROUP, STATUS
from schemas.trade import TradeMode
from services.common.changes import Changes, OutRow
from services.common.consumer import ConsumerLoop
from services.common.handling import Processor
from services.common.rawsql import Driver, marks
from services.common.runtime import Runtime

GROUP = CEB_RECEIPTS_GROUP
CEB_MODES = frozenset({TradeMode.CBEC_RETAIL, TradeMode.CBEC_BONDED})
KNOWN_LIMIT = 100_000
ACCEPTED = "customs.declaration.accepted"
RETURNED = "tax.return.assessed"


def receipts_of(
    status: StatusChanged,
    cause: Mapping[str, Any] | None,
    accepted: Mapping[str, Any] | None,
    listed: store.OnRecord,
    at: datetime,
    returned: store.OnRecord | None = None,
) -> list[Receipt]:
    """The receipts one status change of a CEB list's declaration sends (pure): the list's
    from customs' event, the CEB816 from tax's, a CEB626 for the return (CEB625) filed."""
    kind = CATALOGUE[listed.message]
    head = listed.document.head
    keys = {k: head.get(k, "") for k in KEYS[kind.document]}
    if accepted is not None:
        keys.update(preNo=accepted.get("pre_no") or "", invtNo=accepted.get("invt_no") or "")
    found: list[Receipt] = []
    for one in (cause or {}).get("receipts", ()):
        if one["message"] != kind.receipt:
            continue
        text = one["info"]
        if one["status"] == "100" and status.reason:
            text = info("100", status.reason)  # names code, field and rule
        found.append(Receipt(kind.receipt, listed.guid, one["status"], text, at, keys))
    if status.trigger == "tax.import.collected" and cause is not None:
        figures = {
            name: f"{Decimal(str(amount)):.2f}"
            for name, amount in (
                ("customsTax", cause["duty"]["amount"]),
                ("valueAddedTax", cause["vat"]["amount"]),
                ("consumptionTax", cause["consumption_tax"]["amount"]),
                ("taxTotal", cause["total"]),
            )
        }
        found.append(
            Receipt(
                TAX_BILL,
                listed.guid,
                "1",
                info("1", f"电子税单 tax bill ({cause.get('regime', 'cbec_retail')})"),
                at,
                {**keys, "orderNo": head.get("orderNo", "")},
                figures,
            )
        )
    if status.trigger == RETURNED and cause is not None and returned is not None:
        done = "399" if cause["within_window"] else "100"
        code = f"{cause['reason_code']} returned_on: " if cause.get("reason_code") else ""
        back = returned.document.head
        found.append(
            Receipt(
                "CEB626",
                returned.guid,
                done,
                info(
                    done,
                    f"{code}{cause['reason']} ({cause['reason_zh']}); tax refunded "
                    f"{cause['tax_refunded']}",
                ),
                at,
                {k: back.get(k, "") for k in KEYS["InvtRefund"]},
            )
        )
    return found


def _causes(
    conn: Connection, pairs: Sequence[tuple[str, str | None]]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The payloads of the causing events (by message id) and of each declaration's
    acceptance (by declaration id), in one query."""
    ids = sorted({d for d, _ in pairs})
    causes = sorted({c for _, c in pairs if c})
    rows = Driver(conn).rows(
        "SELECT declaration_id, message_id, type, envelope FROM journal WHERE direction = 'in' "
        f"AND declaration_id IN ({marks(len(ids))}) AND (type = ? OR message_id IN "
        f"({marks(len(causes)) or 'NULL'}))",
        [*ids, ACCEPTED, *causes],
    )
    by_id, accepted = {}, {}
    for declaration_id, message_id, type_, envelope in rows:
        payload = json.loads(bytes(envelope))["payload"]
        by_id[message_id] = payload
        if type_ == ACCEPTED:
            accepted[declaration_id] = payload
    return by_id, accepted


class ReceiptIntake(Processor):
    """A batch of status messages → the receipts they send, in one transaction."""

    def __init__(self, runtime: Runtime, *, max_attempts: int) -> None:
        super().__init__(
            service="gateway",
            db=runtime.db,
            handlers={},
            metrics=runtime.metrics,
            run_seed=runtime.settings.run_seed,
        )
        self.max_attempts = max_attempts
        self._known: OrderedDict[str, bool] = OrderedDict()  # declaration id → a CEB list's

    async def process(
        self,
        batch: Sequence[Envelope],
        dead: Sequence[DeadLetter] = (),
        published: Sequence[str] = (),
        received: Mapping[str, bytes] | None = None,
    ) -> list[OutRow]:
        """Only status changes of declarations a CEB list became take a transaction: the
        others are known by one read (remembered: a declaration is a CEB list's from its
        creation, the list filed in the same transaction). What cannot be read is
        dead-lettered."""
        wanted = [e for e in batch if _candidate(e)]
        unknown = {e.declaration_id for e in wanted} - self._known.keys()
        if unknown:
            found = await self.db.read(lambda conn: store.by_declarations(conn, unknown))
            for declaration_id in unknown:
                self._known[declaration_id] = declaration_id in found
            while len(self._known) > KNOWN_LIMIT:
                self._known.popitem(last=False)
        mine = [e for e in wanted if self._known.get(e.declaration_id)]
        if not mine and not published and not dead:
            return []
        return await super().process(mine, dead, published, received)

    def handle_batch(self, conn: Connection, batch: Sequence[Envelope], changes: Changes) -> None:
        """Post the receipts of the batch's status changes of CEB lists."""
        lists = store.by_declarations(conn, {e.declaration_id for e in batch})
        moved = [e for e in batch if e.declaration_id in lists]
        if not moved:
            return
        causes, accepted = _causes(conn, [(e.declaration_id, e.causation_id) for e in moved])
        returns = store.by_declarations(
            conn,
            {e.declaration_id for e in moved if _trigger(e) == RETURNED},
            messages=("CEB625",),
        )
        posted: list[tuple[str, str, Receipt, bytes]] = []
        for envelope in moved:
            assert isinstance(envelope.payload, StatusChanged)
            listed = lists[envelope.declaration_id]
            cause = causes.get(envelope.causation_id or "")
            for receipt in receipts_of(
                envelope.payload,
                cause,
                accepted.get(envelope.declaration_id),
                listed,
                envelope.occurred_at,
                returns.get(envelope.declaration_id),
            ):
                xml = receipt_xml(receipt)
                store.post_receipt(
                    changes,
                    enterprise_id=listed.enterprise_id,
                    ori_guid=receipt.ori_guid,
                    message=receipt.message,
                    status=receipt.status,
                    xml=xml,
                    declaration_id=envelope.declaration_id,
                )
                posted.append((listed.enterprise_id, envelope.declaration_id, receipt, xml))
        queue_receipts(conn, posted, seed=self.run_seed, max_attempts=self.max_attempts)


def _trigger(envelope: Envelope) -> str:
    return envelope.payload.trigger if isinstance(envelope.payload, StatusChanged) else ""


def _candidate(envelope: Envelope) -> bool:
    payload = envelope.payload
    return isinstance(payload, StatusChanged) and payload.trade_mode in CEB_MODES


class ReceiptFollower:
    """The consumer that turns status changes into receipts; the lifespan starts and stops it."""

    def __init__(self, runtime: Runtime, *, max_attempts: int) -> None:
        self.runtime = runtime
        self.max_attempts = max_attempts
        self._loop: ConsumerLoop | None = None

    async def start(self) -> None:
        """Start consuming (after `runtime.start()`)."""
        self._loop = await ConsumerLoop.following(
            self.runtime,
            [STATUS],
            GROUP,
            ReceiptIntake(self.runtime, max_attempts=self.max_attempts),
        )

    async def stop(self) -> None:
        """Stop consuming (before `runtime.stop()`)."""
        if self._loop is not None:
            await self._loop.close()
