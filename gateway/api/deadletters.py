"""Operators read the dead-letter topic and replay a letter to where it came from."""

from __future__ import annotations

import base64

from aiokafka import TopicPartition

from gateway.core.errors import NotFound
from schemas.deadletter import DeadLetter
from schemas.ids import uuid7
from schemas.topics import DEADLETTER
from services.common.bus import make_reader
from services.common.changes import OutRow
from services.common.generations import base_of
from services.common.settings import Settings


class LetterNotFound(NotFound):
    """No dead letter at that position."""


def letter_id(partition: int, offset: int) -> str:
    """A dead letter's id: its position in the dead-letter topic."""
    return f"{partition}-{offset}"


def parse_letter_id(value: str) -> tuple[int, int]:
    """The partition and offset of a dead letter's id, or LetterNotFound."""
    partition, _, offset = value.partition("-")
    if not (partition.isdigit() and offset.isdigit()):
        raise LetterNotFound(f"{value!r} is not a dead-letter id (partition-offset)")
    return int(partition), int(offset)


def original_bytes(letter: DeadLetter) -> bytes:
    """The message as it was consumed (undoing the base64 of unreadable bytes)."""
    if letter.value.startswith("base64:"):
        return base64.b64decode(letter.value.removeprefix("base64:"))
    return letter.value.encode()


async def read_letters(
    settings: Settings, *, limit: int, at: tuple[int, int] | None = None
) -> list[tuple[str, DeadLetter]]:
    """The newest `limit` letters of each partition (or the one at `at`), oldest first."""
    consumer = make_reader(settings)
    await consumer.start()
    try:
        partitions = sorted(consumer.partitions_for_topic(DEADLETTER) or ())
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = sorted(consumer.partitions_for_topic(DEADLETTER) or ())
        wanted = [TopicPartition(DEADLETTER, p) for p in partitions]
        if at is not None:
            wanted = [tp for tp in wanted if tp.partition == at[0]]
        if not wanted:
            return []
        consumer.assign(wanted)
        ends = await consumer.end_offsets(wanted)
        starts = await consumer.beginning_offsets(wanted)
        # The embedded broker's end offset can trail its newest records until the next write
        # to that partition, so the newest letters lie past `ends`: read on until the broker
        # has nothing more to give, then keep the newest `limit` of each partition.
        todo: dict[TopicPartition, int | None] = {}
        for tp in wanted:
            if at is not None:
                if not starts[tp] <= at[1] < max(ends[tp], at[1] + 1):
                    raise LetterNotFound(f"no dead letter {letter_id(*at)}")
                consumer.seek(tp, at[1])
                todo[tp] = at[1] + 1
            else:
                consumer.seek(tp, max(starts[tp], ends[tp] - limit))
                todo[tp] = None
        per_partition: dict[TopicPartition, list[tuple[str, DeadLetter]]] = {}
        while todo:
            batches = await consumer.getmany(*todo, timeout_ms=1000)
            if not batches:
                break  # the broker has nothing more to give within a second: show what we have
            for tp, records in batches.items():
                stop = todo.get(tp)
                for record in records:
                    if stop is not None and record.offset >= stop:
                        continue
                    if record.value is not None:
                        letter = DeadLetter.model_validate_json(record.value)
                        per_partition.setdefault(tp, []).append(
                            (letter_id(tp.partition, record.offset), letter)
                        )
                if stop is not None and records and records[-1].offset + 1 >= stop:
                    todo.pop(tp, None)
        found = [item for letters in per_partition.values() for item in letters[-limit:]]
        found.sort(key=lambda item: item[1].at)
        return found
    finally:
        await consumer.stop()


def replay_row(letter: DeadLetter) -> OutRow:
    """The outbox row that sends a letter's original message back to the topic it was consumed
    from, under its key (an empty key for a message that had none). A letter consumed from a
    topic generation goes back to its base topic: the relay writes it to the live generation."""
    return OutRow(uuid7(), base_of(letter.topic), letter.key or "", original_bytes(letter))
