"""Reading the system's public status topic and its consumer lag, as a load run goes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.topics import AGENCIES, STATUS, commands, events
from services.common.bus import connection_options, make_reader
from services.common.settings import Settings

log = logging.getLogger(__name__)

OnStatus = Callable[[str, str, str, float], None]


def kafka_settings(bootstrap: str) -> Settings:
    """The SW_ settings (security, group prefix) with the load tool's bootstrap servers."""
    return Settings(kafka_bootstrap=bootstrap)


def group_topics(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Each service's consumer group and the topics it consumes."""
    return {
        settings.group_of("gateway"): tuple(events(a) for a in AGENCIES),
        **{settings.group_of(a): (commands(a),) for a in AGENCIES},
    }


class StatusListener:
    """Follows `sw.declarations.status` from its end, without a consumer group."""

    def __init__(self, bootstrap: str, on_status: OnStatus) -> None:
        self.bootstrap = bootstrap
        self.on_status = on_status
        self.consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Assign every partition at its end offset; returns once positioned."""
        self.consumer = make_reader(kafka_settings(self.bootstrap), fetch_max_wait_ms=20)
        await self.consumer.start()
        await self.consumer.topics()
        parts = [
            TopicPartition(STATUS, p)
            for p in sorted(self.consumer.partitions_for_topic(STATUS) or ())
        ]
        if not parts:
            raise RuntimeError(f"topic {STATUS} not found at {self.bootstrap}")
        self.consumer.assign(parts)
        await self.consumer.seek_to_end(*parts)
        for tp in parts:
            await self.consumer.position(tp)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self.consumer is not None
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=5000)
            for records in batches.values():
                for record in records:
                    try:
                        msg = json.loads(record.value or b"")
                        payload = msg["payload"]
                        at = datetime.fromisoformat(msg["occurred_at"]).timestamp()
                        self.on_status(
                            msg["declaration_id"], payload["status"], payload["trigger"], at
                        )
                    except (ValueError, KeyError, TypeError):
                        log.warning("unreadable status message at offset %d", record.offset)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.consumer:
            await self.consumer.stop()


class LagSampler:
    """Consumer lag per topic: end offsets minus the offsets its group committed.

    Committed offsets are read through a consumer of each group (OffsetFetch from a group
    member's side), which the embedded broker answers; it never joins or subscribes, so the
    group's assignment is untouched.
    """

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.settings = kafka_settings(bootstrap)
        self.groups = group_topics(self.settings)
        self.readers: dict[str, AIOKafkaConsumer] = {}
        self.parts: dict[str, list[TopicPartition]] = {}

    async def start(self) -> None:
        for group, topics in self.groups.items():
            reader = AIOKafkaConsumer(
                **connection_options(self.settings), group_id=group, enable_auto_commit=False
            )
            await reader.start()
            self.readers[group] = reader
            await reader.topics()
            for topic in topics:
                self.parts[topic] = [
                    TopicPartition(topic, p)
                    for p in sorted(reader.partitions_for_topic(topic) or ())
                ]

    async def sample(self) -> dict[str, int]:
        """Lag of each topic for the group that consumes it."""
        lag: dict[str, int] = {}
        for group, topics in self.groups.items():
            reader = self.readers[group]
            for topic in topics:
                parts = self.parts[topic]
                ends = await reader.end_offsets(parts)
                total = 0
                for tp in parts:
                    committed = await reader.committed(tp)
                    total += ends[tp] - (
                        committed if committed is not None and committed >= 0 else 0
                    )
                lag[topic] = total
        return lag

    async def stop(self) -> None:
        for reader in self.readers.values():
            await reader.stop()
