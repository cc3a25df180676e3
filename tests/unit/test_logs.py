"""JSON log lines about a message carry its declaration and correlation ids."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from decimal import Decimal

from schemas.envelope import new_envelope
from schemas.messages import ApplyRefund, ValueLine
from services.common.changes import Changes
from services.common.database import Database
from services.common.handling import Context
from singlewindow.logs import JsonFormatter
from tests.support import processor


def test_a_refused_message_is_logged_with_its_declaration_and_correlation_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("tax"))
    logger = logging.getLogger("services.common.handling")
    logger.addHandler(handler)
    command = new_envelope(
        ApplyRefund(
            entry_id="531620260000000001",
            lines=(ValueLine(hs_code="8517130000", value_cny=Decimal("1.00")),),
        ),
        declaration_id="d-42",
        source="gateway",
        correlation_id="c-7",
    )
    # Nothing handles it: refused and dead-lettered, with a warning.
    tax = processor("tax", Database("sqlite://"), {})
    try:
        ctx = Context("tax", 1, datetime.now(UTC))
        tax._handle_one(command, {}, ctx, Changes())
    finally:
        logger.removeHandler(handler)
        tax.db.dispose()
    (line,) = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    assert line["level"] == "WARNING" and line["service"] == "tax"
    assert line["declaration_id"] == "d-42" and line["correlation_id"] == "c-7"
    assert line["message_id"] == command.id and line["message_type"] == "tax.refund.apply"
