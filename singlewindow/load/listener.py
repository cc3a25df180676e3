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
from services.common.generations import Follower, base_of, forget, layout, parse
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
        self.follower: Follower | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Follow every partition (of every topic generation) from its end; returns once
        positioned. A generation that appears later is read from its start."""
        self.consumer = make_reader(kafka_settings(self.bootstrap), fetch_max_wait_ms=20)
        await self.consumer.start()
        self.follower = Follower(self.consumer, [STATUS])
        if not await self.follower.start():
            raise RuntimeError(f"topic {STATUS} not found at {self.bootstrap}")
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self.consumer is not None and self.follower is not None
        while True:
            await self.follower.refresh()
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
    group's assignment is untouched. End offsets are the high watermarks a reader outside any
    group sees in its fetches: the embedded broker answers ListOffsets with the number of
    producer batches, not the next offset. The reader skips to each end as it learns it, so
    it fetches a batch a partition at most between two samples.
    """

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.settings = kafka_settings(bootstrap)
        self.groups = group_topics(self.settings)
        self.readers: dict[str, AIOKafkaConsumer] = {}
        self.parts: dict[str, list[TopicPartition]] = {}
        self.ends: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        for group in self.groups:
            reader = AIOKafkaConsumer(
                **connection_options(self.settings), group_id=group, enable_auto_commit=False
            )
            await reader.start()
            self.readers[group] = reader
        self.ends = make_reader(self.settings, fetch_max_wait_ms=500, max_partition_fetch_bytes=1)
        await self.ends.start()
        await self._discover()

    async def _discover(self) -> None:
        """The partitions of every generation of each topic now; new ones start at the end
        the broker lists (at or before the true end)."""
        assert self.ends is not None
        names = await layout(self.ends)
        parts: dict[str, list[TopicPartition]] = {}
        for topics in self.groups.values():
            for base in topics:
                parts[base] = [
                    TopicPartition(t, p)
                    for t in sorted(n for n in names if base_of(n) == base)
                    for p in sorted(names[t])
                ]
        every = [tp for group in parts.values() for tp in group]
        known = {tp for group in self.parts.values() for tp in group}
        self.parts = parts
        for reader in self.readers.values():  # offset lookups add topics; deleted ones go
            forget(reader._client, lambda t: t in names or parse(t)[1] < 0)
        if set(every) == known:
            return
        self.ends.assign(every)
        start = await self.ends.end_offsets(every)
        for tp in every:
            self.ends.seek(tp, start[tp])

    async def _ends(self) -> dict[TopicPartition, int | None]:
        """Each partition's high watermark as last fetched; then skip the reader to it."""
        assert self.ends is not None
        await self._discover()
        await self.ends.getmany(timeout_ms=0)  # what was fetched: not needed, only its marks
        marks = {tp: self.ends.highwater(tp) for parts in self.parts.values() for tp in parts}
        for tp, mark in marks.items():
            if mark is not None and await self.ends.position(tp) < mark:
                self.ends.seek(tp, mark)
        return marks

    async def sample(self) -> dict[str, int]:
        """Lag of each topic (all its generations) for the group that consumes it."""
        lag: dict[str, int] = {}
        marks = await self._ends()
        for group, topics in self.groups.items():
            reader = self.readers[group]
            for topic in topics:
                parts = self.parts[topic]
                listed = await reader.end_offsets(parts) if parts else {}
                total = 0
                for tp in parts:
                    committed = await reader.committed(tp)
                    # A partition not fetched yet: the broker's own figure, at or before the end.
                    end = max(marks.get(tp) or 0, listed[tp])
                    total += max(end - (committed if committed and committed >= 0 else 0), 0)
                lag[topic] = total
        return lag

    async def stop(self) -> None:
        for reader in self.readers.values():
            await reader.stop()
        if self.ends:
            await self.ends.stop()
