"""Webhooks that carry receipt XML: event type `ceb.receipt`, queued with the receipt.

The body is the JSON event every webhook sends (gateway/webhooks/rules.py), signed the same
way, with `data` holding the receipt: message, the original document's guid, returnStatus
and the XML itself (UTF-8 text).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Final

from sqlalchemy import Connection

from gateway.ceb.receipts import Receipt
from gateway.webhooks.store import Queued, queue_events

EVENT_TYPE: Final = "ceb.receipt"


def receipt_body(
    event_id: str, created: str, declaration_id: str, receipt: Receipt, xml: bytes
) -> bytes:
    """The JSON body of one `ceb.receipt` event."""
    body = {
        "id": event_id,
        "object": "event",
        "type": EVENT_TYPE,
        "created": created,
        "declaration_id": declaration_id,
        "data": {
            "message": receipt.message,
            "ori_guid": receipt.ori_guid,
            "return_status": receipt.status,
            "xml": xml.decode(),
        },
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def queue_receipts(
    conn: Connection,
    posted: Sequence[tuple[str, str, Receipt, bytes]],
    *,
    seed: int,
    max_attempts: int,
) -> int:
    """Queue a `ceb.receipt` event for each (enterprise, declaration, receipt, xml) posted.

    The event id is derived from (guid, message, status), so a redelivered status message
    queues nothing twice (the events' primary key)."""
    items = []
    for enterprise_id, declaration_id, receipt, xml in posted:
        event_id = f"ceb_{receipt.ori_guid}_{receipt.message}_{receipt.status}"
        items.append(
            Queued(
                event_id,
                enterprise_id,
                declaration_id,
                EVENT_TYPE,
                receipt_body(event_id, receipt.at.isoformat(), declaration_id, receipt, xml),
            )
        )
    return queue_events(conn, items, seed=seed, max_attempts=max_attempts, now=time.time())
