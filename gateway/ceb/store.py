"""Documents on file and each enterprise's receipt mailbox, in the gateway's database.

`ceb_documents`: every document the door accepted, by its guid, with the key that names it
on the single window (`CEB311|<ebpCode>|<orderNo>`, unique) and, for a list, the declaration
it became. `ceb_receipts`: every receipt sent, one row per (document guid, receipt message,
returnStatus), unique: a receipt derived twice (a redelivered status message) is written
once. `seq` orders an enterprise's mailbox; the cursor is the last seq read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Column, Connection, Index, LargeBinary
from sqlmodel import Field, SQLModel

from gateway.ceb.codes import Kind
from gateway.ceb.parse import Document
from services.common.changes import Changes
from services.common.rawsql import Driver, chunked, marks


class CebDocument(SQLModel, table=True):
    """A document the door accepted."""

    __tablename__ = "ceb_documents"
    guid: str = Field(primary_key=True)
    doc_key: str = Field(unique=True)
    enterprise_id: str
    message: str
    declaration_id: str | None = Field(default=None, index=True)
    body: str  # JSON: {"head": {...}, "lines": [...]}
    created_at: float


class CebReceipt(SQLModel, table=True):
    """A receipt in an enterprise's mailbox."""

    __tablename__ = "ceb_receipts"
    __table_args__ = (
        Index("uq_ceb_receipt", "ori_guid", "message", "status", unique=True),
        Index("ix_ceb_receipts_mailbox", "enterprise_id", "seq"),
    )
    seq: int | None = Field(default=None, primary_key=True)
    enterprise_id: str
    ori_guid: str
    message: str
    status: str
    declaration_id: str | None = None
    xml: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: float


CEB_TABLES = [CebDocument.__table__, CebReceipt.__table__]  # type: ignore[attr-defined]


# What a list is matched against, by the list's message: order, payment (imports), waybill.
SOURCES: Final[dict[str, tuple[str, str | None, str]]] = {
    "CEB621": ("CEB311", "CEB411", "CEB511"),
    "CEB603": ("CEB303", None, "CEB505"),
}


def source_keys(message: str, head: dict[str, str]) -> dict[str, str]:
    """The keys of the order, payment and waybill a list names."""
    order, payment, waybill = SOURCES[message]
    keys = {
        "order": f"{order}|{head['ebpCode']}|{head['orderNo']}",
        "waybill": f"{waybill}|{head['logisticsCode']}|{head['logisticsNo']}",
    }
    if payment:
        keys["payment"] = f"{payment}|{head['ebpCode']}|{head['orderNo']}"
    return keys


def doc_key(kind: Kind, head: dict[str, str], enterprise_id: str) -> str:
    """The name of a document on the single window: its key fields (a copNo within its
    sender: the enterprise)."""
    parts = [head.get(f, "") for f in kind.key]
    if kind.key == ("copNo",):
        parts.insert(0, enterprise_id)
    return "|".join([kind.message, *parts])


@dataclass(frozen=True)
class OnRecord:
    """A document as filed."""

    guid: str
    enterprise_id: str
    message: str
    declaration_id: str | None
    document: Document


def _record(row: Sequence[Any]) -> OnRecord:
    body = json.loads(row[4])
    return OnRecord(row[0], row[1], row[2], row[3], Document(body["head"], tuple(body["lines"])))


_COLUMNS = "guid, enterprise_id, message, declaration_id, body"


def by_keys(conn: Connection, keys: Iterable[str]) -> dict[str, OnRecord]:
    """Documents on file by doc_key."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    rows = Driver(conn).rows(
        f"SELECT doc_key, {_COLUMNS} FROM ceb_documents WHERE doc_key IN ({marks(len(wanted))})",
        wanted,
    )
    return {row[0]: _record(row[1:]) for row in rows}


def by_guids(conn: Connection, guids: Iterable[str]) -> dict[str, OnRecord]:
    """Documents on file by guid."""
    wanted = list(dict.fromkeys(guids))
    if not wanted:
        return {}
    rows = Driver(conn).rows(
        f"SELECT {_COLUMNS} FROM ceb_documents WHERE guid IN ({marks(len(wanted))})", wanted
    )
    return {row[0]: _record(row) for row in rows}


def by_declarations(
    conn: Connection, ids: Iterable[str], *, messages: tuple[str, ...] = ("CEB621", "CEB603")
) -> dict[str, OnRecord]:
    """The lists that became these declarations (or other documents about them: a CEB625
    return), by declaration id."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, OnRecord] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        rows = Driver(conn).rows(
            f"SELECT {_COLUMNS} FROM ceb_documents WHERE declaration_id IN ({marks(len(chunk))}) "
            f"AND message IN ({marks(len(messages))})",
            [*chunk, *messages],
        )
        found.update({row[3]: _record(row) for row in rows})
    return found


def file_document(
    changes: Changes,
    *,
    key: str,
    enterprise_id: str,
    message: str,
    document: Document,
    declaration_id: str | None = None,
) -> None:
    """Put a document on file with the unit's other writes."""
    body = json.dumps({"head": document.head, "lines": document.lines}, ensure_ascii=False)
    changes.add_row(
        "INSERT INTO ceb_documents (guid, doc_key, enterprise_id, message, declaration_id, body, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (document.guid, key, enterprise_id, message, declaration_id, body, time.time()),
    )


def replace_document(changes: Changes, *, key: str, document: Document) -> None:
    """A change (appType 2) of a supporting document: the new guid and body under its key."""
    body = json.dumps({"head": document.head, "lines": document.lines}, ensure_ascii=False)
    changes.add_row(
        "UPDATE ceb_documents SET guid = ?, body = ? WHERE doc_key = ?",
        (document.guid, body, key),
    )


INSERT_RECEIPT = (
    "INSERT INTO ceb_receipts (enterprise_id, ori_guid, message, status, declaration_id, xml, "
    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


def post_receipt(
    changes: Changes,
    *,
    enterprise_id: str,
    ori_guid: str,
    message: str,
    status: str,
    xml: bytes,
    declaration_id: str | None = None,
) -> None:
    """Put a receipt in the enterprise's mailbox with the unit's other writes (once)."""
    changes.add_row(
        INSERT_RECEIPT,
        (enterprise_id, ori_guid, message, status, declaration_id, xml, time.time()),
    )


@dataclass(frozen=True)
class Posted:
    """A receipt in a mailbox."""

    seq: int
    ori_guid: str
    message: str
    status: str
    xml: bytes
    declaration_id: str | None = None


_RECEIPT = "seq, ori_guid, message, status, xml, declaration_id"


def receipts_of(conn: Connection, *, enterprise_id: str, ori_guid: str) -> list[Posted]:
    """An enterprise's receipts about one document, oldest first."""
    rows = Driver(conn).rows(
        f"SELECT {_RECEIPT} FROM ceb_receipts WHERE ori_guid = ? AND enterprise_id = ? "
        "ORDER BY seq",
        (ori_guid, enterprise_id),
    )
    return [Posted(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]


def receipts_since(conn: Connection, *, enterprise_id: str, after: int, limit: int) -> list[Posted]:
    """An enterprise's receipts after `after` (a seq), oldest first."""
    rows = Driver(conn).rows(
        f"SELECT {_RECEIPT} FROM ceb_receipts WHERE enterprise_id = ? AND seq > ? "
        "ORDER BY seq LIMIT ?",
        (enterprise_id, after, limit),
    )
    return [Posted(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]


def purge_declarations(conn: Connection, declaration_ids: Sequence[str]) -> None:
    """Remove the CEB rows of declarations past their retention (retention's hook): each list,
    the order, payment and waybill it named, a cancel or return filed on it, their receipts."""
    db = Driver(conn)
    for chunk, in_chunk in chunked(list(declaration_ids)):
        rows = db.rows(
            f"SELECT guid, message, body FROM ceb_documents WHERE declaration_id IN ({in_chunk})",
            chunk,
        )
        keys = [
            key
            for _, message, body in rows
            if message in SOURCES
            for key in source_keys(message, json.loads(body)["head"]).values()
        ]
        guids = [row[0] for row in rows]
        if keys:
            guids += [
                row[0]
                for row in db.rows(
                    f"SELECT guid FROM ceb_documents WHERE doc_key IN ({marks(len(keys))})", keys
                )
            ]
        db.run(f"DELETE FROM ceb_receipts WHERE declaration_id IN ({in_chunk})", chunk)
        if guids:
            db.run(f"DELETE FROM ceb_receipts WHERE ori_guid IN ({marks(len(guids))})", guids)
            db.run(f"DELETE FROM ceb_documents WHERE guid IN ({marks(len(guids))})", guids)
