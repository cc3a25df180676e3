"""A client other than aiokafka reads the public status topic from the embedded broker:
confluent-kafka (librdkafka) in a consumer group, with the settings docs/kafka-clients.md
gives, joins, is assigned the partitions, follows a declaration to its end and commits."""

from __future__ import annotations

import json
import uuid
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from schemas.samples import sample_declaration
from schemas.topics import STATUS
from tests.e2e.conftest import System
from tests.support import wait_for

# docs/kafka-clients.md: the embedded broker holds a new member's JoinGroup for half the
# session timeout; 6 s is the least Apache Kafka accepts (group.min.session.timeout.ms).
GROUP_SETTINGS = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}


def test_confluent_kafka_follows_a_declaration_in_a_consumer_group(system: System) -> None:
    group = f"integrator-{uuid.uuid4().hex[:8]}"
    consumer = Consumer(
        {
            "bootstrap.servers": system.broker,
            "group.id": group,
            "auto.offset.reset": "earliest",  # what came before is skipped below, by key
            "enable.auto.commit": False,
            **GROUP_SETTINGS,
        }
    )
    assigned: list[TopicPartition] = []
    consumer.subscribe([STATUS], on_assign=lambda _c, parts: assigned.extend(parts))
    try:
        seen: list[dict[str, Any]] = []

        def poll_for(declaration_id: str | None) -> None:
            message = consumer.poll(0.2)
            if message is None:
                return
            assert message.error() is None, message.error()
            if declaration_id and message.key() == declaration_id.encode():
                seen.append(json.loads(message.value()))

        wait_for(
            lambda: poll_for(None) or len(assigned) == 2,  # polling joins the group
            timeout_s=60,
            what="the group to assign both partitions",
            every_s=0,
        )
        with system.client() as client:
            answer = client.post("/v1/declarations", json=sample_declaration(scenario="happy"))
            assert answer.status_code == 202, answer.text
            declaration_id = answer.json()["id"]

        def completed() -> bool:
            poll_for(declaration_id)
            return bool(seen) and seen[-1]["payload"]["status"] == "completed"

        wait_for(completed, timeout_s=60, what=f"{declaration_id} to complete", every_s=0)
        assert {m["type"] for m in seen} == {"declaration.status.changed"}
        assert {m["declaration_id"] for m in seen} == {declaration_id}
        statuses = [m["payload"]["status"] for m in seen]
        assert statuses[0] == "submitted" and statuses[-1] == "completed"  # in order: one key

        consumer.commit(asynchronous=False)
        committed = consumer.committed(assigned, timeout=10)
        assert sum(max(tp.offset, 0) for tp in committed) >= len(seen)
    finally:
        consumer.close()  # leaves the group
