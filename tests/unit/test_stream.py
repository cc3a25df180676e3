"""The dashboard's fan-out without Kafka: per-enterprise routing, coalescing, bounded buffers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gateway.dashboard.stream import StatusHub


def _status(declaration_id: str, enterprise_id: str, state: str) -> bytes:
    return json.dumps(
        {
            "declaration_id": declaration_id,
            "occurred_at": datetime.now(UTC).isoformat(),  # inside the run the hub started
            "payload": {
                "enterprise_id": enterprise_id,
                "status": "in_progress",
                "state": state,
                "previous_state": None,
                "trigger": "customs.declaration.accepted",
                "steps": {},
                "figures": {},
            },
        }
    ).encode()


def test_a_page_sees_only_its_enterprise_and_the_newest_status_of_each_declaration() -> None:
    hub = StatusHub("unused:9092")
    mine, theirs = hub.subscribe("ent_a"), hub.subscribe("ent_b")
    hub.dispatch(_status("d1", "ent_a", "customs_review"))
    hub.dispatch(_status("d2", "ent_a", "customs_review"))
    hub.dispatch(_status("d1", "ent_a", "release_pending"))  # replaces d1's waiting status
    hub.dispatch(_status("d9", "ent_b", "customs_review"))
    items = [json.loads(x) for x in mine.take(100)]
    assert [(i["id"], i["state"]) for i in items] == [
        ("d2", "customs_review"),
        ("d1", "release_pending"),
    ]
    assert [json.loads(x)["id"] for x in theirs.take(100)] == ["d9"]
    assert mine.take(100) == []


def test_a_slow_page_loses_the_oldest_declarations_not_the_process() -> None:
    hub = StatusHub("unused:9092", buffer_limit=3)
    sub = hub.subscribe("ent_a")
    for n in range(10):
        hub.dispatch(_status(f"d{n}", "ent_a", "customs_review"))
    assert [json.loads(x)["id"] for x in sub.take(100)] == ["d7", "d8", "d9"]
    assert sub.dropped == 7
    # The class view still counted every one of them.
    assert hub.snapshot("ent_a", max_age_s=0)["declarations"] == 10


def test_unreadable_messages_are_skipped_and_pages_unsubscribe() -> None:
    hub = StatusHub("unused:9092")
    sub = hub.subscribe("ent_a")
    hub.dispatch(b"not json")
    hub.dispatch(None)
    assert sub.take(10) == []
    hub.unsubscribe(sub)
    hub.dispatch(_status("d1", "ent_a", "customs_review"))
    assert sub.take(10) == []
