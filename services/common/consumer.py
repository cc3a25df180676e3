"""The one consumer loop: fetch a batch, decode, handle in one transaction, publish, commit."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from schemas.deadletter import DeadLetter
from schemas.envelope import DecodeError, Envelope, decode, now
from services.common.bus import make_consumer
from services.common.doorbell import Listener
from services.common.framing import FrameError, unframe
from services.common.generations import Gate, base_of
from services.common.handling import Processor
from services.common.metrics import Metrics
from services.common.relay import OutboxRelay
from services.common.tasks import cancel

if TYPE_CHECKING:  # the runtime builds its loops from this module
    from services.common.runtime import Runtime

log = logging.getLogger(__name__)


def _printable(raw: bytes | None) -> str:
    if raw is None:
        return ""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode()


# A resting consumer's look at the broker: one fetch's wait (bus.py) and a little more.
PROBE_MS = 60


@dataclass(frozen=True)
class Rest:
    """When a consumer with nothing to read stops asking the broker, and what wakes it.

    After `after_s` without a message it pauses its partitions (no fetch in flight) and waits
    for its doorbell (services/common/doorbell.py) or `poll_s`, whichever comes first, then
    looks once. A ring keeps it awake for `after_s` again, as a message does.
    """

    after_s: float
    poll_s: float
    listener: Listener | None = None


class ConsumerLoop:
    """Consumes a service's topics and drives its Processor; never stops on a bad message."""

    def __init__(
        self,
        *,
        consumer: AIOKafkaConsumer,
        processor: Processor,
        relay: OutboxRelay,
        batch_max: int,
        rest: Rest | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.consumer = consumer
        # With topic generations: read a partition's older generation through first.
        self.gate = gate
        self.processor = processor
        self.relay = relay
        self.batch_max = batch_max
        self.rest = rest
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._awake_at = time.monotonic()

    @classmethod
    async def following(
        cls, runtime: Runtime, topics: Sequence[str], group: str, processor: Processor
    ) -> ConsumerLoop:
        """A loop of `processor` on `topics` in consumer group `group`, started (the gateway's
        own consumers beside its saga's: webhooks, CEB receipts); `close` ends it."""
        consumer = make_consumer(runtime.settings, topics, group=group)
        await consumer.start()
        loop = cls(
            consumer=consumer,
            processor=processor,
            relay=runtime.relay,
            batch_max=runtime.settings.batch_max,
            rest=runtime.rest(topics),
            gate=runtime.gate(),
        )
        loop.start()
        return loop

    async def close(self) -> None:
        """Stop consuming, then the consumer."""
        await self.stop()
        await self.consumer.stop()

    def start(self) -> None:
        """Start consuming (the lifespan owns the task)."""
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.processor.service}")

    async def stop(self) -> None:
        """Stop consuming; what was not committed is consumed again by whoever comes next."""
        await cancel(self._task)

    async def _run(self) -> None:
        retry_delay = 0.1
        while True:
            wait_ms = 200
            if self._resting():
                wait_ms = 200 if await self._rest() else PROBE_MS
            if self.gate is not None:
                self.gate.apply(self.consumer, self._position)
            try:
                batches = await self.consumer.getmany(
                    timeout_ms=wait_ms, max_records=self.batch_max
                )
            except KafkaError:
                log.exception("fetch failed; retrying")
                await asyncio.sleep(1)  # retry pacing while the broker recovers
                continue
            if self.consumer.assignment():
                self.ready.set()
            if not batches:
                continue
            self._awake_at = time.monotonic()
            envelopes, dead, received = read_batch(
                batches, service=self.processor.service, metrics=self.processor.metrics
            )
            published = self.relay.take_published()
            try:
                rows = await self.processor.process(envelopes, dead, published, received)
            except Exception as exc:
                self.relay.give_back(published)
                # Nothing was committed: rewind and take the same batch again after a pause.
                self.processor.metrics.batch_retries.inc()
                log.warning(
                    "batch of %d rolled back (%s: %s); retrying in %.1fs",
                    len(envelopes) + len(dead),
                    type(exc).__name__,
                    exc,
                    retry_delay,
                )
                for tp, records in batches.items():
                    self.consumer.seek(tp, records[0].offset)
                await asyncio.sleep(retry_delay)  # backoff pacing, not a wait for a condition
                retry_delay = min(retry_delay * 2, 5.0)
                continue
            retry_delay = 0.1
            self.relay.publish(rows)
            offsets = {
                tp: OffsetAndMetadata(records[-1].offset + 1, "") for tp, records in batches.items()
            }
            try:
                await self.consumer.commit(offsets)
            except (CommitFailedError, KafkaError) as exc:
                # A rebalance took the partitions; their next owner re-reads, the inbox dedupes.
                log.warning("offset commit failed (%s); messages will be redelivered", exc)

    def _resting(self) -> bool:
        rest = self.rest
        return (
            rest is not None
            and time.monotonic() - self._awake_at > rest.after_s
            and bool(self.consumer.assignment())
        )

    async def _rest(self) -> bool:
        """Pause every partition until rung (True) or the poll interval passes (False)."""
        assert self.rest is not None
        self.consumer.pause(*self.consumer.assignment())
        try:
            if self.rest.listener is not None:
                rung = await self.rest.listener.wait(self.rest.poll_s)
            else:
                await asyncio.sleep(self.rest.poll_s)  # no doorbell: look again after a while
                rung = False
        finally:
            self.consumer.resume(*self.consumer.paused())
        if rung:
            self._awake_at = time.monotonic()
        return rung

    async def refresh_lag(self) -> None:
        """Set the lag gauge of each assigned partition: its high-water mark − our position.

        Both come from what the consumer already knows (the high-water mark arrives with every
        fetch answer), so a scrape costs no request to the broker and never waits on it: a
        slow or restarting broker cannot make /metrics slow. A partition not yet fetched has
        no high-water mark and no lag to show.
        """
        gauge = self.processor.metrics.consumer_lag
        gauge.clear()
        # A topic's generations (services/common/generations.py) count as the topic: one
        # series per topic and partition, whatever the generation.
        lag: dict[tuple[str, int], int] = {}
        for tp in sorted(self.consumer.assignment()):
            highwater = self.consumer.highwater(tp)
            position = self._position(tp)
            if highwater is None or position is None:
                continue
            slot = (base_of(tp.topic), tp.partition)
            lag[slot] = lag.get(slot, 0) + max(0, highwater - position)
        for (topic, partition), behind in lag.items():
            gauge.labels(topic, str(partition)).set(behind)

    def _position(self, tp: TopicPartition) -> int | None:
        """The next offset this consumer will read, without asking the broker."""
        # aiokafka's public position() may ask the broker; its subscription state does not.
        subscription = self.consumer._subscription.subscription
        assignment = subscription.assignment if subscription is not None else None
        state = assignment.state_value(tp) if assignment is not None else None
        return state.position if state is not None and state.has_valid_position else None


Batch = Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]]


def read_batch(
    batches: Batch, *, service: str, metrics: Metrics
) -> tuple[list[Envelope], list[DeadLetter], dict[str, bytes]]:
    """The envelopes of consumed records (a frame's in order), decoded one by one; a bad one
    is dead-lettered alone and its siblings go on. Also: each envelope's bytes, by id."""
    envelopes: list[Envelope] = []
    dead: list[DeadLetter] = []
    received: dict[str, bytes] = {}
    for tp, records in batches.items():
        carried = 0
        for record in records:
            raw = record.value
            try:
                if raw is None:
                    raise DecodeError("empty message (no value)", "unparseable")
                elements = unframe(raw)
            except (DecodeError, FrameError) as exc:
                failure = (
                    exc if isinstance(exc, DecodeError) else DecodeError(str(exc), "unparseable")
                )
                dead.append(_letter(tp, record, raw, failure, service, metrics))
                continue
            carried += len(elements)
            framed = raw.startswith(b"[")
            for index, value in enumerate(elements):
                try:
                    envelope = decode(value)
                except DecodeError as exc:
                    where = index if framed else None
                    dead.append(_letter(tp, record, value, exc, service, metrics, where))
                    continue
                envelopes.append(envelope)
                received[envelope.id] = value
        topic = base_of(tp.topic)  # one series a topic, whatever its generation
        metrics.records_consumed_of(topic).inc(len(records))
        metrics.envelopes_consumed_of(topic).inc(carried)
    return envelopes, dead, received


def _letter(
    tp: TopicPartition,
    record: ConsumerRecord[bytes, bytes],
    value: bytes | None,
    exc: DecodeError,
    service: str,
    metrics: Metrics,
    index: int | None = None,
) -> DeadLetter:
    metrics.dead_letters.labels(exc.kind).inc()
    where = f"{tp.topic}@{tp.partition}/{record.offset}" + (
        f"[{index}]" if index is not None else ""
    )
    log.warning("dead-lettered %s: %s", where, exc.reason)
    return DeadLetter(
        reason=exc.reason,
        kind=exc.kind,
        service=service,
        topic=tp.topic,
        partition=tp.partition,
        offset=record.offset,
        frame_index=index,
        key=_printable(record.key) or None,
        value=_printable(value),
        at=now(),
    )
