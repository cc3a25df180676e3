"""Clients of the public status topic on the embedded broker, whose topics turn in
generations (docs/kafka-clients.md): confluent-kafka (librdkafka) in a consumer group joins,
follows a declaration to its end and commits; librdkafka follows the generations by name
across several turns without ever holding one that is deleted; an aiokafka group named in
SW_STATUS_GROUPS, subscribed by pattern, holds generations back while it does not read."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, IllegalStateError
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from schemas.samples import sample_declaration
from schemas.topics import STATUS
from services.common.generations import Generations, parse
from singlewindow.spawn import spawn_system
from tests.e2e.conftest import TERMINAL, System
from tests.support import wait_for

# docs/kafka-clients.md: the embedded broker holds a new member's JoinGroup for half the
# session timeout; 6 s is the least Apache Kafka accepts (group.min.session.timeout.ms).
GROUP_SETTINGS = {
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    "topic.metadata.refresh.interval.ms": 3000,  # new generations are seen in time
}
# Every generation of the status topic (and the plain name, on a real Kafka).
STATUS_PATTERN = "^" + re.escape(STATUS) + r"(\.g[0-9]+)?$"


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
    # librdkafka crashes when a topic it follows is deleted on the embedded broker: it follows
    # the live generation and the next by name (docs/kafka-clients.md), never an old one.
    names = [system.topic(STATUS), _next(system, STATUS)]
    consumer.subscribe(names, on_assign=lambda _c, parts: assigned.extend(parts))
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
            lambda: poll_for(None) or sum(tp.topic == names[0] for tp in assigned) == 2,
            timeout_s=60,
            what="the group to assign both partitions of the live generation",
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
        # In order within a generation; across a switch, by occurred_at (docs/kafka-clients.md).
        statuses = [m["payload"]["status"] for m in sorted(seen, key=lambda m: m["occurred_at"])]
        assert statuses[0] == "submitted" and statuses[-1] == "completed"

        consumer.commit(asynchronous=False)
        committed = consumer.committed(assigned, timeout=10)
        assert sum(max(tp.offset, 0) for tp in committed) >= len(seen)
    finally:
        consumer.close()  # leaves the group


HELD = "integrator-held"
PERIOD_S = 6.0


def _next(system: System, base: str) -> str:
    return Generations(system.generation_s).live(base, now=time.time() + system.generation_s)


@pytest.fixture(scope="module")
def rotating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """A system whose topics turn every 6 s and whose status generations wait for HELD."""
    data_dir = Path(tmp_path_factory.mktemp("rotating"))
    extra = {"SW_TOPIC_GENERATION_S": str(PERIOD_S), "SW_STATUS_GROUPS": HELD}
    with spawn_system(data_dir, extra_env=extra) as spawned:
        yield System(spawned.proc, spawned.port_base, spawned.broker, data_dir, PERIOD_S)


def _status_generations(bootstrap: str) -> list[str]:
    topics = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    return sorted(t for t in topics if re.match(STATUS_PATTERN, t) and t != STATUS)


def _submit_one_a_period(system: System, count: int) -> list[str]:
    """`count` declarations, one a period (so across turns), each run to its end."""
    ids: list[str] = []
    with system.client() as client:
        for _ in range(count):
            started = time.monotonic()
            answer = client.post("/v1/declarations", json=sample_declaration("export"))
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
            time.sleep(max(0.0, system.generation_s - (time.monotonic() - started)))  # pace
        for declaration_id in ids:
            assert system.wait_terminal(client, declaration_id)["status"] in TERMINAL
    return ids


class Lasts:
    """The last status of each of some declarations, by occurred_at (generations may hand a
    declaration's changes over out of order at a switch)."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = set(ids)
        self.last: dict[str, tuple[str, str]] = {}

    def see(self, value: bytes) -> None:
        event = json.loads(value)
        key = event["declaration_id"]
        if key in self.ids and event["occurred_at"] >= self.last.get(key, ("", ""))[0]:
            self.last[key] = (event["occurred_at"], event["payload"]["status"])

    def all_ended(self) -> bool:
        return len(self.last) == len(self.ids) and all(
            status in TERMINAL for _, status in self.last.values()
        )


def test_librdkafka_follows_the_generations_by_name_across_turns(rotating: System) -> None:
    """The recipe of docs/kafka-clients.md for librdkafka clients: assign the live and the
    next generation's partitions; once a generation has ended and is read to its end, let go
    of it (before the system deletes it) and take the one after."""
    consumer = Consumer(
        {"bootstrap.servers": rotating.broker, "group.id": "unused", "enable.auto.commit": False}
    )
    partitions = 2
    held: list[str] = []

    def follow() -> None:
        now = time.time()
        gens = Generations(rotating.generation_s)
        wanted = [gens.live(STATUS, now=now), gens.live(STATUS, now=now + gens.period_s)]
        # An older generation is kept until it ended (and a second for sends in flight) and
        # every partition of it is read to its high watermark, but let go a quarter period
        # after its end whatever: the system deletes it from half a period after its end.
        for name in held:
            if name in wanted:
                continue
            ends_at = gens.ends_at(parse(name)[1])
            tps = consumer.position([TopicPartition(name, p) for p in range(partitions)])
            marks = [consumer.get_watermark_offsets(tp, cached=True)[1] for tp in tps]
            done = all(0 <= high <= tp.offset for tp, high in zip(tps, marks, strict=True))
            if now < ends_at + 1.0 or (not done and now < ends_at + gens.period_s / 4):
                wanted.insert(0, name)
        if wanted != held:
            # Kept partitions go on from where they are; new ones from their start.
            at = {
                (tp.topic, tp.partition): tp.offset
                for tp in consumer.position(
                    [TopicPartition(n, p) for n in held if n in wanted for p in range(partitions)]
                )
                if tp.offset >= 0
            }
            consumer.assign(
                [
                    TopicPartition(n, p, at.get((n, p), OFFSET_BEGINNING))
                    for n in wanted
                    for p in range(partitions)
                ]
            )
            held[:] = wanted

    follow()
    try:
        # Declarations go in from another thread while this one reads all along (it is not
        # named in SW_STATUS_GROUPS: a generation it fell behind on could go unread).
        with ThreadPoolExecutor(1) as pool:
            submitted = pool.submit(_submit_one_a_period, rotating, 4)
            seen: list[bytes] = []
            while not submitted.done():
                follow()
                message = consumer.poll(0.2)
                if message is not None and message.error() is None:
                    seen.append(message.value())
            lasts = Lasts(submitted.result())
        for value in seen:
            lasts.see(value)

        def everything_read() -> bool:
            follow()
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                lasts.see(message.value())
            return lasts.all_ended()

        wait_for(everything_read, timeout_s=60, what="every declaration's last status", every_s=0)
        # Several turns went by and this process is alive: it never held a deleted topic.
        assert parse(held[0])[1] > parse(Generations(PERIOD_S).live(STATUS))[1] - 3
    finally:
        consumer.close()


async def _commit(consumer: AIOKafkaConsumer) -> None:
    """Commit what was read; a turn's rebalance may hold or take the partitions for a moment
    (the next call commits it then)."""
    with contextlib.suppress(IllegalStateError, CommitFailedError, TimeoutError):
        await asyncio.wait_for(consumer.commit(), timeout=5)


async def test_a_group_named_in_sw_status_groups_misses_nothing_while_it_does_not_read(
    rotating: System,
) -> None:
    """An aiokafka group subscribed by pattern joins, then reads nothing while declarations
    run their course over four turns: the generation they were written to is not deleted
    before the group has read it, the group finds every declaration's last status, and once
    it has committed, the generation goes."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=rotating.broker,
        group_id=HELD,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        metadata_max_age_ms=3000,
    )
    consumer.subscribe(pattern=STATUS_PATTERN)
    await consumer.start()
    try:
        deadline = time.monotonic() + 60
        while not consumer.assignment():
            assert time.monotonic() < deadline, "the group never assigned the partitions"
            await consumer.getmany(timeout_ms=200)  # joins the group; commits nothing
        submitted_at = time.time()
        ids = await asyncio.to_thread(_submit_one_a_period, rotating, 4)
        first = Generations(PERIOD_S).live(STATUS, now=submitted_at)
        assert first in _status_generations(rotating.broker)
        lasts = Lasts(ids)
        deadline = time.monotonic() + 60
        while not lasts.all_ended():
            assert time.monotonic() < deadline, lasts.last
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    lasts.see(record.value or b"")
            await _commit(consumer)
        deadline = time.monotonic() + PERIOD_S * 5
        while first in _status_generations(rotating.broker):  # read on and commit: it goes
            assert time.monotonic() < deadline, f"{first} was never deleted"
            await consumer.getmany(timeout_ms=500)
            await _commit(consumer)
    finally:
        await consumer.stop()
