"""The three-document match (三单比对) and the list's mapping onto a declaration, as pure
functions: the documents on file and the list in, a declaration or the business errors out.

Split of the work with customs. The door checks what only it can see: that the order, the
payment and the waybill the list names are on file and agree with the list (C305-C310).
The amounts and the buyer across the three documents travel in the declaration's `cbec`
block and customs checks them as for a JSON 9610/1210 import (C301-C304, docs/domain.md),
so a mismatch there is a customs rejection visible in the JSON API, answered CEB622 100.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydantic import ValidationError

from gateway.ceb import codes
from gateway.ceb.codes import CodeError, Kind
from gateway.ceb.parse import Document, decimal
from gateway.saga import explain
from schemas.codes import make_uscc
from schemas.trade import CbecDocuments, DeclarationData, Direction, Item, Party


@dataclass(eq=False)
class BusinessError(Exception):
    """A document refused on its content: receipt returnStatus 100 naming field, rule, code."""

    code: str
    field: str
    rule: str
    reason: str
    reason_zh: str

    @property
    def info(self) -> str:
        return explain(self.code, self.field, self.reason, self.reason_zh, self.rule)


@dataclass(frozen=True)
class OnFile:
    """The supporting documents on file for a list (None: not filed)."""

    order: Document | None
    payment: Document | None = None
    waybill: Document | None = None


def check_links(kind: Kind, invt: Document, docs: OnFile) -> list[BusinessError]:
    """Every way the list disagrees with the documents on file (import: order, payment,
    waybill; export: order, waybill), in field order."""
    head, found = invt.head, []
    order, waybill = docs.order, docs.waybill
    if order is None:
        found.append(BusinessError(
            "C305", "orderNo", "cbec.three_documents.order",
            f"no order ({'CEB311' if kind.direction is Direction.IMPORT else 'CEB303'}) on file "
            f"with orderNo {head['orderNo']!r} from ebpCode {head['ebpCode']!r}",
            "未找到对应的电子订单"))  # fmt: skip
    if kind.direction is Direction.IMPORT and docs.payment is None:
        found.append(BusinessError(
            "C306", "orderNo", "cbec.three_documents.payment",
            f"no payment (CEB411) on file for orderNo {head['orderNo']!r} of ebpCode "
            f"{head['ebpCode']!r}", "未找到对应的支付单"))  # fmt: skip
    if waybill is None:
        found.append(BusinessError(
            "C307", "logisticsNo", "cbec.three_documents.waybill",
            f"no waybill ({'CEB511' if kind.direction is Direction.IMPORT else 'CEB505'}) on "
            f"file with logisticsNo {head['logisticsNo']!r} from logisticsCode "
            f"{head['logisticsCode']!r}", "未找到对应的物流运单"))  # fmt: skip
    elif waybill.head.get("orderNo") and waybill.head["orderNo"] != head["orderNo"]:
        found.append(BusinessError(
            "C310", "logisticsNo", "cbec.three_documents.waybill_order",
            f"waybill {head['logisticsNo']!r} is for order {waybill.head['orderNo']!r}, not "
            f"{head['orderNo']!r}", "运单对应的订单编号与清单不一致"))  # fmt: skip
    if order is not None and order.head["ebcCode"] != head["ebcCode"]:
        found.append(BusinessError(
            "C309", "ebcCode", "cbec.three_documents.ebc",
            f"list ebcCode {head['ebcCode']!r} ≠ order ebcCode {order.head['ebcCode']!r}",
            "清单电商企业与订单不一致"))  # fmt: skip
    if kind.direction is Direction.IMPORT and order is not None:
        mine = (head["buyerIdNumber"], head["buyerName"])
        theirs = (order.head["buyerIdNumber"], order.head["buyerName"])
        if mine != theirs:
            found.append(BusinessError(
                "C308", "buyerIdNumber", "cbec.three_documents.buyer",
                f"list buyer {mine[1]!r} ({mine[0]}) ≠ order buyer {theirs[1]!r} ({theirs[0]})",
                "清单订购人与订单订购人不一致"))  # fmt: skip
    return found


def uscc_of(customs_code: str) -> str:
    """A valid USCC standing for an enterprise known by its customs code: CEB lists name
    enterprises by customs code only. "91" + 4 location digits + "00" + 8 digits of the
    code's SHA-256 + both check characters (a simulator parameter, docs/ceb.md)."""
    digits = "".join(c for c in hashlib.sha256(customs_code.encode()).hexdigest() if c.isdigit())
    return make_uscc(f"91{customs_code[:4]}00{(digits + '0' * 8)[:8]}")


def cbec_documents(order: Document, payment: Document, waybill: Document) -> CbecDocuments:
    """The three documents as the declaration's `cbec` block (checked by customs)."""
    o, p, w = order.head, payment.head, waybill.head
    return CbecDocuments(
        order_no=o["orderNo"],
        buyer_id_number=o["buyerIdNumber"],
        buyer_name=o["buyerName"],
        freight=decimal(o["freight"], "freight", order.guid),
        tax=decimal(o["taxTotal"], "taxTotal", order.guid),
        actual_paid=decimal(o["acturalPaid"], "acturalPaid", order.guid),
        payment_no=p["payTransactionId"],
        payer_id_number=p["payerIdNumber"],
        amount_paid=decimal(p["amountPaid"], "amountPaid", payment.guid),
        waybill_no=w["logisticsNo"],
        consignee_name=w["consignee"],
    )


_LINE = ("gnum", "itemName", "hsCode", "country", "unit", "qty", "price")


def _items(invt: Document) -> tuple[Item, ...]:
    items = []
    for i, line in enumerate(invt.lines):
        missing = [f for f in _LINE if not line.get(f)]
        if missing:
            raise BusinessError(
                "C314", f"InventoryList[{i}].{missing[0]}", "ceb.list.line",
                f"line {i} lacks {', '.join(missing)}", "清单表体缺少必填项")  # fmt: skip
        where = f"InventoryList[{i}]"
        items.append(
            Item(
                hs_code=line["hsCode"],
                description=line["itemName"],
                quantity=decimal(line["qty"], f"{where}.qty", invt.guid),
                unit=line["unit"],
                unit_price=decimal(line["price"], f"{where}.price", invt.guid),
                origin_country=codes.country(line["country"], f"{where}.country"),
            )
        )
    if not items:
        raise BusinessError(
            "C314", "InventoryList", "ceb.list.line", "the list has no goods lines",
            "清单无表体")  # fmt: skip
    return tuple(items)


def declaration_of(kind: Kind, invt: Document, docs: OnFile) -> DeclarationData:
    """The declaration a matched CEB621/603 becomes (raises BusinessError)."""
    head = invt.head
    found = check_links(kind, invt, docs)
    if found:
        raise found[0]
    try:
        direction = codes.direction(head["ieFlag"])
        if direction is not kind.direction:
            raise CodeError("ieFlag", "code.ie_flag", f"a {kind.message} list has ieFlag "
                            f"{'I' if kind.direction is Direction.IMPORT else 'E'}")  # fmt: skip
        cbec = None
        if direction is Direction.IMPORT:
            assert docs.order and docs.payment and docs.waybill  # check_links found them
            cbec = cbec_documents(docs.order, docs.payment, docs.waybill)
        return DeclarationData(
            direction=direction,
            trade_mode=codes.trade_mode(head["tradeMode"], direction),
            declarant=Party(
                uscc=uscc_of(head["ebcCode"]), name=head["ebcName"], customs_code=head["ebcCode"]
            ),
            counterparty_country=codes.country(head["country"]),
            currency=codes.currency(head["currency"]),
            items=_items(invt),
            reference=head["copNo"],
            cbec=cbec,
        )
    except CodeError as exc:
        raise BusinessError("C313", exc.field, exc.rule, str(exc), "代码不在参数表中") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BusinessError(
            "C314", where, "ceb.list.field", f"{where}: {first['msg']}", "清单字段不合规"
        ) from exc
