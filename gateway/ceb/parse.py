"""Safe parsing of a CEB message: bytes in, its documents as plain fields out.

Refused before any business rule (each a `FormatError`, answered with a CEB900): a body over
the size limit, an encoding other than UTF-8/GB2312/GBK/GB18030, any DTD (so no entity, no
external entity, no expansion at all: defusedxml with `forbid_dtd`), malformed XML, a root
outside the CEB namespace, an unknown message type, too many documents, a missing field.
The enveloped `ds:Signature` is kept aside, not verified (sandbox; docs/ceb.md).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Final

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from gateway.ceb.codes import CATALOGUE, DS_NS, NS, Kind

MAX_BYTES: Final = 1_000_000  # a message of 100 lists of 50 lines is about half of it
MAX_DOCUMENTS: Final = 100
MAX_FIELD_CHARS: Final = 1000  # returnInfo's length (D§2.1); no CEB field is longer
ENCODINGS: Final = {"utf-8": "utf-8", "utf8": "utf-8", "gb2312": "gb18030", "gbk": "gb18030",
                    "gb18030": "gb18030"}  # fmt: skip
_PROLOG = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_ROOT = re.compile(r"CEB(\d{3})Message")


class FormatError(Exception):
    """A message the door cannot read: the element, the rule it broke, and why."""

    def __init__(
        self, element: str, rule: str, message: str, *, guid: str = "", kind: str = ""
    ) -> None:
        super().__init__(message)
        self.element, self.rule, self.guid, self.kind = element, rule, guid, kind

    @property
    def info(self) -> str:
        return f"{self.element}: {self} [rule {self.rule}]"


@dataclass(frozen=True)
class Document:
    """One business document of a message: its head fields and its lines."""

    head: dict[str, str]
    lines: tuple[dict[str, str], ...] = ()

    @property
    def guid(self) -> str:
        return self.head["guid"]


@dataclass(frozen=True)
class Message:
    """A parsed CEB message."""

    kind: Kind
    guid: str
    documents: tuple[Document, ...]
    transfer: dict[str, str] = field(default_factory=dict)  # BaseTransfer: the sender
    signed: bool = False


def decode(data: bytes) -> str:
    """The text of a message in the encoding its prolog declares (UTF-8 if none)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    found = _PROLOG.match(data)
    declared = found.group(1).decode("ascii").lower() if found else "utf-8"
    codec = ENCODINGS.get(declared)
    if codec is None:
        raise FormatError(
            "<?xml?>", "xml.encoding", f"encoding {declared!r} is not UTF-8, GB2312 or GBK"
        )
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise FormatError(
            "<?xml?>", "xml.encoding", f"byte {exc.start} is not valid {declared}"
        ) from exc


def _local(tag: str) -> tuple[str, str]:
    ns, _, name = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return ns, name


def _fields(element: ET.Element, where: str) -> dict[str, str]:
    """The leaf children of an element as name → text (stripped)."""
    out: dict[str, str] = {}
    for child in element:
        ns, name = _local(child.tag)
        if len(child) or ns not in (NS, ""):
            continue
        text = (child.text or "").strip()
        if len(text) > MAX_FIELD_CHARS:
            raise FormatError(f"{where}/{name}", "xml.length", f"longer than {MAX_FIELD_CHARS}")
        out[name] = text
    return out


def _document(element: ET.Element, kind: Kind, index: int) -> Document:
    """A document: the fields of its …Head (or its own leaves) and one dict per …List."""
    where = f"{kind.document}[{index}]"
    head = _fields(element, where)
    lines: list[dict[str, str]] = []
    for child in element:
        ns, name = _local(child.tag)
        if ns != NS or not len(child):
            continue
        if name.endswith("Head"):
            head.update(_fields(child, f"{where}/{name}"))
        elif name.endswith("List"):
            lines.append(_fields(child, f"{where}/{name}[{len(lines)}]"))
    missing = [f for f in kind.required if not head.get(f)]
    if missing:
        raise FormatError(
            f"{where}/{missing[0]}",
            "xml.required",
            f"required field(s) missing or empty: {', '.join(missing)}",
            guid=head.get("guid", ""),
            kind=kind.message,
        )
    return Document(head, tuple(lines))


def parse(data: bytes, *, max_bytes: int = MAX_BYTES) -> Message:
    """Read a CEB message, or raise FormatError naming the element and the rule."""
    if len(data) > max_bytes:
        raise FormatError("<message>", "xml.size", f"larger than {max_bytes} bytes")
    text = decode(data)
    try:
        root = SafeET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise FormatError(
            "<!DOCTYPE>", "xml.dtd", f"DTDs and entities are refused ({exc!r})"
        ) from exc
    except ET.ParseError as exc:
        line, column = exc.position
        raise FormatError(
            "<message>", "xml.well_formed", f"not well-formed XML at line {line}, column {column}"
        ) from exc
    ns, name = _local(root.tag)
    if ns != NS:
        raise FormatError(
            name,
            "ceb.namespace",
            f"the root element must be in the namespace {NS}, not {ns or 'none'!r}",
        )
    matched = _ROOT.fullmatch(name)
    kind = CATALOGUE.get(f"CEB{matched.group(1)}") if matched else None
    guid = (root.get("guid") or "").strip()
    if kind is None:
        known = ", ".join(sorted(CATALOGUE))
        raise FormatError(
            name, "ceb.message_type", f"not a message the door takes ({known})", guid=guid
        )
    documents: list[Document] = []
    transfer: dict[str, str] = {}
    signed = False
    for child in root:
        child_ns, child_name = _local(child.tag)
        if child_ns == DS_NS and child_name == "Signature":
            signed = True
        elif child_ns == NS and child_name == "BaseTransfer":
            transfer = _fields(child, "BaseTransfer")
        elif child_ns == NS and child_name == kind.document:
            if len(documents) == MAX_DOCUMENTS:
                raise FormatError(
                    kind.document,
                    "ceb.documents",
                    f"more than {MAX_DOCUMENTS} documents",
                    guid=guid,
                    kind=kind.message,
                )
            documents.append(_document(child, kind, len(documents)))
        else:
            raise FormatError(
                child_name,
                "ceb.element",
                f"{kind.message}Message takes {kind.document}, BaseTransfer and ds:Signature only",
                guid=guid,
                kind=kind.message,
            )
    if not guid:
        raise FormatError(
            name, "xml.required", "the message has no guid attribute", kind=kind.message
        )
    if not documents:
        raise FormatError(
            kind.document,
            "xml.required",
            f"the message carries no {kind.document}",
            guid=guid,
            kind=kind.message,
        )
    if not transfer.get("copCode"):
        raise FormatError(
            "BaseTransfer/copCode",
            "xml.required",
            "BaseTransfer names the sender (copCode, copName, dxpMode, dxpId)",
            guid=guid,
            kind=kind.message,
        )
    return Message(kind, guid, tuple(documents), transfer, signed)


def decimal(raw: str, name: str, guid: str = "") -> Decimal:
    """A non-negative amount of at most 4 decimals, or FormatError (a CEB900: schema type)."""
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    exponent = value.as_tuple().exponent
    if not value.is_finite() or value < 0 or not isinstance(exponent, int) or exponent < -4:
        raise FormatError(
            name, "xml.decimal", f"{raw!r} is not an amount (≥ 0, at most 4 decimals)", guid=guid
        )
    return value


def encoding_of(data: bytes) -> str:
    """The encoding a message's prolog declares (utf-8 if none or unknown): its answer's."""
    found = _PROLOG.match(data.removeprefix(b"\xef\xbb\xbf"))
    declared = found.group(1).decode("ascii").lower() if found else "utf-8"
    return declared if declared in ENCODINGS else "utf-8"
