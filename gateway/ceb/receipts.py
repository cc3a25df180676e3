"""Receipts as real CEB XML (D§2.1): CEB312 … CEB792, the CEB816 tax bill, the CEB900."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from gateway.ceb.codes import CATALOGUE, FORMAT_ERROR, NS, STATUS_TEXT, SUMMARY_RESULT, TAX_BILL
from gateway.ceb.parse import FormatError
from schemas.ids import uuid7
from schemas.units import BEIJING

ET.register_namespace("ceb", NS)

# The element of one receipt, for receipts that answer no message of their own.
RETURNS: Final[dict[str, str]] = {
    **{k.receipt: k.returns for k in CATALOGUE.values()},
    SUMMARY_RESULT: "SummaryResult",
    TAX_BILL: "TaxHeadRd",
}
# The business numbers a receipt repeats, by the document it answers (D§2.1).
KEYS: Final[dict[str, tuple[str, ...]]] = {
    "Order": ("ebpCode", "ebcCode", "orderNo"),
    "Payment": ("payCode", "payTransactionId"),
    "Logistics": ("logisticsCode", "logisticsNo"),
    "Inventory": ("agentCode", "ebpCode", "ebcCode", "copNo", "preNo", "invtNo"),
    "InvtCancel": ("agentCode", "ebpCode", "ebcCode", "copNo", "invtNo"),
    "InvtRefund": ("agentCode", "ebpCode", "ebcCode", "copNo", "invtNo"),
    "Receipts": ("ebpCode", "orderNo", "payCode", "payNo"),
    "Arrival": ("operatorCode", "copNo", "billNo"),
    "Departure": ("logisticsCode", "copNo", "billNo"),
    "SummaryApply": ("ebcCode", "declAgentCode", "copNo", "sumNo"),
}


def return_time(at: datetime) -> str:
    """returnTime: yyyyMMddHHmmssfff in Beijing time (17 digits)."""
    local = at.astimezone(BEIJING)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def info(status: str, detail: str = "") -> str:
    """returnInfo in the real `[Code:…;Desc:…]` form (D§2.4)."""
    desc = STATUS_TEXT.get(status, status) + (f"; {detail}" if detail else "")
    return f"[Code:{status};Desc:{desc}]"[:1000]


@dataclass(frozen=True)
class Receipt:
    """One receipt: which message, about which document (its guid), with what status."""

    message: str  # CEB622
    ori_guid: str  # the guid of the document it answers
    status: str  # returnStatus
    info: str  # returnInfo
    at: datetime
    keys: dict[str, str] = field(default_factory=dict)  # ebpCode, orderNo, copNo, invtNo…
    extra: dict[str, str] = field(default_factory=dict)  # CEB816/792 figures

    @property
    def returns(self) -> str:
        return RETURNS[self.message]


def _append(parent: ET.Element, name: str, text: str) -> None:
    ET.SubElement(parent, f"{{{NS}}}{name}").text = text


def _element(receipt: Receipt) -> ET.Element:
    one = ET.Element(f"{{{NS}}}{receipt.returns}")
    _append(one, "guid", receipt.ori_guid)
    for name, value in receipt.keys.items():
        _append(one, name, value)
    _append(one, "returnStatus", receipt.status)
    _append(one, "returnTime", return_time(receipt.at))
    _append(one, "returnInfo", receipt.info)
    for name, value in receipt.extra.items():
        _append(one, name, value)
    return one


def _message(message: str) -> ET.Element:
    return ET.Element(f"{{{NS}}}{message}Message", {"guid": uuid7().upper(), "version": "1.0"})


def _bytes(root: ET.Element, encoding: str) -> bytes:
    data: bytes = ET.tostring(root, encoding=encoding, xml_declaration=True)
    return data


def receipt_xml(receipt: Receipt, *, encoding: str = "utf-8") -> bytes:
    """One receipt as the message a transfer client downloads."""
    root = _message(receipt.message)
    root.append(_element(receipt))
    return _bytes(root, encoding)


def stored_elements(xmls: Sequence[bytes]) -> list[tuple[str, ET.Element]]:
    """The `…Return` elements of receipts sent before (our own XML), with their message."""
    found: list[tuple[str, ET.Element]] = []
    for xml in xmls:
        root = ET.fromstring(xml)  # written by receipt_xml: no DTD, no entity
        message = root.tag.rpartition("}")[2].removesuffix("Message")
        found.extend((message, element) for element in root)
    return found


def answer_xml(
    receipts: Sequence[Receipt],
    earlier: Sequence[tuple[str, ET.Element]] = (),
    *,
    encoding: str = "utf-8",
    wrap: bool = False,
) -> bytes:
    """An answer: one receipt message per receipt type, each holding one `…Return` per
    document (new receipts, then those sent before); several messages, or `wrap`, are
    wrapped in `ceb:Receipts` (the simulator's)."""
    parts = [(r.message, _element(r)) for r in receipts] + list(earlier)
    messages: list[ET.Element] = []
    by_type: dict[str, ET.Element] = {}
    for message, element in parts:
        root = None if wrap else by_type.get(message)
        if root is None:
            root = by_type[message] = _message(message)
            messages.append(root)
        root.append(element)
    if len(messages) == 1 and not wrap:
        return _bytes(messages[0], encoding)
    wrapper = ET.Element(f"{{{NS}}}Receipts")
    wrapper.extend(messages)
    return _bytes(wrapper, encoding)


def format_error_xml(error: FormatError, at: datetime, *, encoding: str = "utf-8") -> bytes:
    """A CEB900: oriCopMsgId, oriMessageType, oriBizMessage, and the element and rule."""
    root = _message(FORMAT_ERROR)
    body = ET.SubElement(root, f"{{{NS}}}FormatReturn")
    _append(body, "oriCopMsgId", error.guid)
    _append(body, "oriMessageType", error.kind)
    _append(body, "oriBizMessage", error.element)
    _append(body, "returnStatus", "100")
    _append(body, "returnTime", return_time(at))
    _append(body, "returnInfo", info("100", f"报文格式错误 format error: {error.info}"))
    return _bytes(root, encoding)
