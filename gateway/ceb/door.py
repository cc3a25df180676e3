"""One CEB message through the door: each document filed, matched or declared, and its
receipts, in one unit of the gateway's group commit (pure reads, then Changes).

A document already on file (the same guid sent again) changes nothing: its receipts so far
are the answer. A list (CEB621/603) that matches its documents becomes a declaration through
`gateway.saga.declare`, exactly as a JSON submission does; its later receipts follow the saga
(gateway/ceb/follow.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import Connection

from gateway import saga as sagas
from gateway.ceb import store
from gateway.ceb.codes import SUMMARY_RESULT, Kind
from gateway.ceb.match import BusinessError, OnFile, declaration_of
from gateway.ceb.parse import Document, Message, decimal
from gateway.ceb.receipts import KEYS as RECEIPT_KEYS
from gateway.ceb.receipts import Receipt, info, receipt_xml
from gateway.core.config import GatewayConfig
from gateway.core.errors import GatewayError
from gateway.saga.declare import Intent, declare
from gateway.saga.trader import file_on, return_command
from gateway.saga.unit import SagaUnit
from schemas.api import DeclarationRequest
from services.common.changes import Changes
from services.common.database import transaction_memo
from services.common.rawsql import Driver, marks

# Amount fields checked as decimals when a supporting document is filed (else a CEB900).
AMOUNTS: Final[dict[str, tuple[str, ...]]] = {
    "CEB311": ("goodsValue", "freight", "taxTotal", "acturalPaid"),
    "CEB411": ("amountPaid",),
    "CEB511": ("freight",),
    "CEB303": ("goodsValue", "freight"),
    "CEB403": ("charge",),
    "CEB505": ("freight",),
}
SUPPORTING: Final = frozenset(AMOUNTS)
LISTS: Final = frozenset({"CEB621", "CEB603"})
ON_LISTS: Final = frozenset({"CEB623", "CEB625"})  # a cancel and a return of an import list
RELEASED: Final = frozenset({"800", "899"})
_MEMO = "ceb_documents"  # documents filed in this transaction, by key
_ANSWERED = "ceb_answered"  # the last receipt of each guid answered in this transaction


def check_amounts(message: Message) -> None:
    """Every amount of the message is a decimal (else FormatError: the whole message is a
    CEB900), checked before the unit so that it never fails half way."""
    for document in message.documents:
        for name in AMOUNTS.get(message.kind.message, ()):
            decimal(document.head[name], name, document.guid)
        if message.kind.message in LISTS:
            for i, line in enumerate(document.lines):
                for name in ("qty", "price"):
                    if line.get(name):
                        decimal(line[name], f"InventoryList[{i}].{name}", document.guid)


@dataclass
class Outcome:
    """What the door answers: new receipts, and receipts already sent (replays, as XML)."""

    receipts: list[Receipt] = field(default_factory=list)
    replayed: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class Door:
    """The door's unit of work, with what it needs of the gateway."""

    config: GatewayConfig
    intend: Callable[[DeclarationRequest, str, GatewayConfig], Intent]
    now: Callable[[], datetime]

    def unit(
        self, conn: Connection, changes: Changes, message: Message, enterprise_id: str
    ) -> Outcome:
        """File every document of `message`; receipts to post and to answer."""
        out = Outcome()
        memo: dict[str, store.OnRecord] = transaction_memo(conn).setdefault(_MEMO, {})
        answered: dict[str, bytes] = transaction_memo(conn).setdefault(_ANSWERED, {})
        known = store.by_guids(conn, [d.guid for d in message.documents])
        for document in message.documents:
            if document.guid in answered:  # twice in this transaction
                out.replayed.append(answered[document.guid])
                continue
            if document.guid in known:
                out.replayed.extend(_sent(conn, enterprise_id, document.guid))
                continue
            try:
                made = self._one(conn, changes, message.kind, document, enterprise_id, memo)
            except BusinessError as refused:
                made = [self._receipt(message.kind, document, "100", refused.info)]
            filed = memo.get(store.doc_key(message.kind, document.head, enterprise_id))
            declaration_id = filed.declaration_id if filed and filed.guid == document.guid else None
            for receipt in made:
                answered[receipt.ori_guid] = self._post(
                    changes, enterprise_id, receipt, declaration_id
                )
            out.receipts.extend(made)
        return out

    def _receipt(self, kind: Kind, document: Document, status: str, detail: str) -> Receipt:
        keys = {k: document.head.get(k, "") for k in RECEIPT_KEYS[kind.document]}
        return Receipt(kind.receipt, document.guid, status, info(status, detail), self.now(), keys)

    def _post(
        self, changes: Changes, enterprise_id: str, receipt: Receipt, declaration_id: str | None
    ) -> bytes:
        xml = receipt_xml(receipt)
        store.post_receipt(
            changes,
            enterprise_id=enterprise_id,
            ori_guid=receipt.ori_guid,
            message=receipt.message,
            status=receipt.status,
            xml=xml,
            declaration_id=declaration_id,
        )
        return xml

    def _one(
        self,
        conn: Connection,
        changes: Changes,
        kind: Kind,
        document: Document,
        enterprise_id: str,
        memo: dict[str, store.OnRecord],
    ) -> list[Receipt]:
        head = document.head
        if head["appStatus"] == "1":  # a draft saved at the e-port (暂存): nothing declared
            return [self._receipt(kind, document, "1", "暂存 draft saved, not declared")]
        key = store.doc_key(kind, head, enterprise_id)
        earlier = memo.get(key) or store.by_keys(conn, [key]).get(key)
        app_type = head["appType"]
        if app_type not in ("1", "2") or (app_type == "2" and kind.message not in SUPPORTING):
            raise BusinessError(
                "C312", "appType", "ceb.app_type",
                f"appType {app_type!r} of a {kind.message} is not simulated (1 new; 2 change, "
                "for orders, payments and waybills)", "不支持的申报类型")  # fmt: skip
        if earlier is not None and app_type == "1":
            raise BusinessError(
                "C311", kind.key[-1], "ceb.duplicate",
                f"{kind.message} {key.split('|', 1)[1]} is already on file (guid "
                f"{earlier.guid}); send appType 2 to change it", "重复申报")  # fmt: skip
        if earlier is None and app_type == "2":
            raise BusinessError(
                "C312", "appType", "ceb.app_type",
                f"nothing on file to change: {key.split('|', 1)[1]}", "无可变更的单证")  # fmt: skip
        declaration_id, summary = None, []
        if kind.message == "CEB701":
            summary = self._summary(conn, kind, document, enterprise_id)
        if kind.message in ON_LISTS:
            declaration_id, summary = self._on_list(conn, changes, kind, document, enterprise_id)
        if kind.message in LISTS:
            declaration_id = self._declare(conn, changes, kind, document, enterprise_id, memo)
        if earlier is not None:
            store.replace_document(changes, key=key, document=document)
        else:
            store.file_document(
                changes,
                key=key,
                enterprise_id=enterprise_id,
                message=kind.message,
                document=document,
                declaration_id=declaration_id,
            )
        memo[key] = store.OnRecord(
            document.guid, enterprise_id, kind.message, declaration_id, document
        )
        if kind.message in LISTS:  # the rest follows the saga
            return [self._receipt(kind, document, "2", f"declaration {declaration_id}")]
        done = "变更申报成功" if app_type == "2" else "新增申报成功"
        accepted = [self._receipt(kind, document, "120", f"{done}[{document.guid}]")]
        if kind.message == "CEB701":
            accepted = []  # a CEB702 has no 120: 2, then 399 (D§2.4)
        return [self._receipt(kind, document, "2", ""), *accepted, *summary]

    def _summary(
        self, conn: Connection, kind: Kind, apply: Document, enterprise_id: str
    ) -> list[Receipt]:
        """CEB701 → CEB702 399 and CEB792: the enterprise's 9610 lists of the ebcCode, declared
        in [startTime, endTime], that customs has summarised (the saga asks for the summary
        once a list is closed and settled, docs/ceb.md)."""
        head = apply.head
        rows = Driver(conn).rows(
            "SELECT declaration_id, body FROM ceb_documents WHERE enterprise_id = ? AND "
            "message = 'CEB603' AND declaration_id IS NOT NULL",
            (enterprise_id,),
        )
        lists = {}
        for declaration_id, body in rows:
            invt = json.loads(body)["head"]
            when = invt.get("appTime", "")
            if invt["ebcCode"] == head["ebcCode"] and head["startTime"] <= when <= head["endTime"]:
                lists[declaration_id] = invt
        summaries = summary_events(conn, list(lists))
        if not summaries:
            raise BusinessError(
                "C315", "startTime", "ceb.summary.lists",
                f"no 9610 list of ebcCode {head['ebcCode']!r} declared between "
                f"{head['startTime']} and {head['endTime']} has been summarised yet (a list is "
                f"summarised once closed and settled; {len(lists)} list(s) in the period)",
                "申请期间内无可汇总的清单")  # fmt: skip
        sums = sorted({(s["sum_no"], s["entry_id"]) for s in summaries.values()})
        result = Receipt(
            SUMMARY_RESULT, apply.guid, "399",
            info("399", f"汇总结果 {len(summaries)} lists → 报关单 {', '.join(e for _, e in sums)}"),
            self.now(),
            {"ebcCode": head["ebcCode"], "declAgentCode": head["declAgentCode"],
             "copNo": head["copNo"], "sumNo": ",".join(n for n, _ in sums)},
            {"entryId": ",".join(e for _, e in sums), "invtCount": str(len(summaries))},
        )  # fmt: skip
        return [self._receipt(kind, apply, "399", f"{len(summaries)} lists summarised"), result]

    def _on_list(
        self, conn: Connection, changes: Changes, kind: Kind, document: Document, enterprise_id: str
    ) -> tuple[str, list[Receipt]]:
        """A cancel (CEB623) or a return (CEB625) of one of the sender's lists: the list's
        saga cancelled, or the return filed with tax as `POST /v1/declarations/{id}/returns`
        files it; the declaration, and the receipts beyond 2 and 120."""
        copno = document.head["copNo"]
        key = f"CEB621|{enterprise_id}|{copno}"
        listed = store.by_keys(conn, [key]).get(key)
        if listed is None or listed.declaration_id is None:
            raise BusinessError(
                "C305", "copNo", "ceb.list.unknown",
                f"no CEB621 list of yours with copNo {copno!r}", "未找到对应的清单")  # fmt: skip
        declaration_id = listed.declaration_id
        if kind.message == "CEB625":
            try:
                file_on(SagaUnit.load(conn, changes, declaration_id, owner=enterprise_id),
                        lambda saga, now: (return_command(saga, sagas.sandbox_today(saga, now)),
                                           saga, None),
                        config=self.config)  # fmt: skip
            except GatewayError as exc:
                raise BusinessError(
                    "C317", "copNo", "ceb.return.not_applicable", exc.detail, "不能退货"
                ) from exc
            return declaration_id, []  # the tax bureau's answer follows the saga (CEB626 399)
        one = SagaUnit.load(conn, changes, declaration_id, owner=None)
        before = one.saga
        if before.state in sagas.TERMINAL or before.customs_status in RELEASED:
            raise BusinessError(
                "C316", "copNo", "ceb.cancel.released",
                f"the list is {before.customs_status or before.state}: a cancel (撤单) is taken "
                "before release only (a released list is returned with a CEB625)",
                "清单已放行或已结束，不能撤单")  # fmt: skip
        one.save(
            sagas.cancel(before, reason=f"CEB623 撤单: {document.head['reason']}"), status=True
        )
        return declaration_id, [self._receipt(kind, document, "399", "撤单成功 cancelled")]

    def _declare(
        self,
        conn: Connection,
        changes: Changes,
        kind: Kind,
        invt: Document,
        enterprise_id: str,
        memo: dict[str, store.OnRecord],
    ) -> str:
        keys = store.source_keys(kind.message, invt.head)
        found = store.by_keys(conn, [k for k in keys.values() if k not in memo])
        docs = {name: (memo.get(k) or found.get(k)) for name, k in keys.items()}
        on_file = OnFile(**{name: (rec.document if rec else None) for name, rec in docs.items()})
        declaration = declaration_of(kind, invt, on_file)
        request = DeclarationRequest.model_validate(declaration.model_dump())
        intent = self.intend(request, enterprise_id, self.config)
        try:
            declare(
                conn,
                changes,
                enterprise_id=enterprise_id,
                intent=intent,
                config=self.config,
                field="copNo",
            )
        except GatewayError as exc:
            raise BusinessError(
                "C311", "copNo", "ceb.duplicate", exc.detail, "企业内部编号重复"
            ) from exc
        return intent.declaration_id


def _sent(conn: Connection, enterprise_id: str, guid: str) -> list[bytes]:
    """The latest receipt sent about a document (the answer to it sent again)."""
    posted = store.receipts_of(conn, enterprise_id=enterprise_id, ori_guid=guid)
    return [posted[-1].xml] if posted else []


def summary_events(conn: Connection, declaration_ids: list[str]) -> dict[str, dict[str, str]]:
    """The 9610 summary (customs.summary.concluded) of each of these declarations."""
    if not declaration_ids:
        return {}
    rows = Driver(conn).rows(
        "SELECT declaration_id, envelope FROM journal WHERE type = 'customs.summary.concluded' "
        f"AND direction = 'in' AND declaration_id IN ({marks(len(declaration_ids))})",
        declaration_ids,
    )
    return {row[0]: json.loads(bytes(row[1]))["payload"] for row in rows}
