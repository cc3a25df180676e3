"""The dashboard's follower notices a status topic recreated by a restarted broker."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from gateway.dashboard.stream import realign

P0, P1 = TopicPartition("sw.declarations.status", 0), TopicPartition("sw.declarations.status", 1)


class EndsOnly:
    """Just what `realign` asks of a consumer: the partitions' ends, and seeking."""

    def __init__(self, ends: dict[TopicPartition, int]) -> None:
        self.ends = ends
        self.seeks: list[tuple[TopicPartition, int]] = []

    async def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends[tp] for tp in parts}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


def test_a_partition_whose_end_went_backwards_is_followed_from_zero() -> None:
    # Before the restart the ends were 900 and 850; the new broker's topic holds 12 and 0.
    consumer = EndsOnly({P0: 12, P1: 0})
    last = {P0: 900, P1: 850}
    rewound = asyncio.run(realign(consumer, last))  # type: ignore[arg-type]
    assert rewound == [P0, P1]
    assert consumer.seeks == [(P0, 0), (P1, 0)]
    assert last == {P0: 12, P1: 0}  # the new ends are what the next check compares with


def test_growing_or_still_ends_leave_the_position_alone() -> None:
    consumer = EndsOnly({P0: 900, P1: 851})
    last = {P0: 900, P1: 850}
    assert asyncio.run(realign(consumer, last)) == []  # type: ignore[arg-type]
    assert consumer.seeks == []
