"""The AsyncAPI document describes the frame each internal topic may carry."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from schemas.asyncapi import asyncapi_document
from schemas.envelope import new_envelope
from schemas.messages import ApplyRefund, Explained, RefundDenied, RefundPaid
from schemas.topics import STATUS, internal_topics
from services.common.framing import frame


def _frame_validator(doc: dict[str, Any], message: str) -> jsonschema.Draft202012Validator:
    payload = doc["components"]["messages"][message]["payload"]
    return jsonschema.Draft202012Validator({**payload, "components": doc["components"]})


def test_each_internal_channel_has_a_frame_message_and_the_status_channel_none() -> None:
    doc = asyncapi_document()
    for topic in internal_topics():
        channel = doc["channels"][topic.replace(".", "_")]
        frames = [name for name in channel["messages"] if name.endswith("Frame")]
        assert len(frames) == 1, topic
        assert "JSON array" in channel["description"]
    assert not any(
        n.endswith("Frame") for n in doc["channels"][STATUS.replace(".", "_")]["messages"]
    )


def test_a_frame_the_relay_sends_satisfies_its_channels_frame_schema() -> None:
    doc = asyncapi_document()
    paid = RefundPaid(
        refund=Explained(amount=1, base=1, rate=1, formula="1 × 1"), lines=(), method="免退"
    )
    denied = RefundDenied(reason_code="T1", reason="no receipt", reason_zh="无收汇")
    events = [
        new_envelope(paid, declaration_id="d-1", source="tax").to_bytes(),
        new_envelope(denied, declaration_id="d-2", source="tax").to_bytes(),
    ]
    validator = _frame_validator(doc, "TaxEventsFrame")
    assert list(validator.iter_errors(json.loads(frame(events)))) == []
    command = new_envelope(
        ApplyRefund(entry_id="531620260000000001", lines=()), declaration_id="d-3", source="gw"
    ).to_bytes()
    assert list(validator.iter_errors(json.loads(frame([events[0], command])))) != []
