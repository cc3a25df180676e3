"""The dashboard's fan-out without Kafka: per-enterprise routing, coalescing, bounded buffers."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from gateway.dashboard.stream import StatusHub
from schemas.topics import STATUS
from services.common.changes import OutRow


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


def _row(message_id: str, raw: bytes) -> OutRow:
    return OutRow(message_id, STATUS, "d", raw)


def _with_id(message_id: str, raw: bytes) -> bytes:
    return json.dumps({**json.loads(raw), "id": message_id}).encode()


def test_what_this_process_commits_is_shown_once_though_the_topic_carries_it_too() -> None:
    hub = StatusHub("unused:9092")
    sub = hub.subscribe("ent_a")
    mine = _with_id("m1", _status("d1", "ent_a", "customs_review"))
    theirs = _with_id("t1", _status("d2", "ent_a", "customs_review"))
    hub.committed([_row("m1", mine), OutRow("c1", "sw.customs.commands", "d1", b"{}")])
    assert [json.loads(x)["id"] for x in sub.take(10)] == ["d1"]
    # Read back from the topic while a page is open: its own message is skipped, another
    # replica's is shown.
    hub.dispatch(mine, skip_mine=True)
    hub.dispatch(theirs, skip_mine=True)
    assert [json.loads(x)["id"] for x in sub.take(10)] == ["d2"]
    snap = hub.snapshot("ent_a", max_age_s=0)
    assert (snap["events"], snap["declarations"]) == (2, 2)


@dataclass
class Topic:
    """The status topic as the hub reads it: one partition, held in memory."""

    values: list[bytes] = field(default_factory=list)
    opened: int = 0
    closed: int = 0

    def reader(self) -> Any:
        return Reader(self)


@dataclass
class Reader:
    """The calls of AIOKafkaConsumer the hub makes, on a `Topic`."""

    topic: Topic
    at: int = 0
    assigned: frozenset[TopicPartition] = frozenset()

    @property
    def _client(self) -> Any:  # the all-topics metadata the generations' Follower asks for
        cluster = SimpleNamespace(topics=lambda: {STATUS}, partitions_for_topic=lambda _name: {0})

        async def fetch_all_metadata() -> Any:
            return cluster

        return SimpleNamespace(fetch_all_metadata=fetch_all_metadata)

    def assignment(self) -> frozenset[TopicPartition]:
        return self.assigned

    async def start(self) -> None:
        self.topic.opened += 1

    async def stop(self) -> None:
        self.topic.closed += 1

    async def topics(self) -> set[str]:
        return {STATUS}

    def partitions_for_topic(self, _name: str) -> set[int]:
        return {0}

    def assign(self, parts: list[TopicPartition]) -> None:
        self.assigned = frozenset(parts)

    async def seek_to_end(self, *_parts: TopicPartition) -> None:
        self.at = len(self.topic.values)

    async def position(self, _tp: TopicPartition) -> int:
        return self.at

    async def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.topic.values) for tp in parts}

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        await asyncio.sleep(0.01)  # a fetch's wait
        new, self.at = self.topic.values[self.at :], len(self.topic.values)
        return {TopicPartition(STATUS, 0): [SimpleNamespace(value=v) for v in new]} if new else {}


async def _until(probe: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_the_topic_is_followed_only_while_a_page_is_open() -> None:
    topic = Topic()
    hub = StatusHub("unused:9092", consumer_factory=topic.reader, linger_s=0.2)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    hub.start()
    try:
        topic.values.append(_status("d1", "ent_a", "customs_review"))  # nobody looks
        await asyncio.sleep(0.05)
        assert topic.opened == 0 and not hub.following
        sub = hub.subscribe("ent_a")
        await _until(hub.ready.is_set, "the hub to follow the topic")
        topic.values.append(_status("d2", "ent_a", "customs_review"))  # another replica's
        await _until(
            lambda: hub.snapshot("ent_a", max_age_s=0)["events"] == 1, "the other replica's change"
        )
        assert [json.loads(x)["id"] for x in sub.take(10)] == ["d2"]  # from the end: not d1
        hub.unsubscribe(sub)
        await _until(lambda: not hub.following and topic.closed == 1, "the hub to stop following")
        topic.values.append(_status("d3", "ent_a", "customs_review"))
        again = hub.subscribe("ent_a")  # a page opens again: followed again, from the end
        await _until(lambda: topic.opened == 2 and hub.ready.is_set(), "following again")
        assert again.take(10) == []
        assert hub.snapshot("ent_a", max_age_s=0)["declarations"] == 1  # d2 alone
    finally:
        await hub.stop()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
