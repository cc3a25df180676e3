"""What the load report counts on the bus when a topic generation was deleted during the run."""

from __future__ import annotations

from aiokafka import TopicPartition

from singlewindow.resources.bus import _whole_from


def tp(topic: str, partition: int = 0) -> TopicPartition:
    return TopicPartition(topic, partition)


def test_nothing_deleted_counts_from_the_start() -> None:
    start = {tp("sw.events.customs.g10"): 5, tp("sw.events.customs.g11"): 0}
    counted = {("sw.events.customs.g10", 1200): [3, 300]}
    assert _whole_from(start, list(start), counted) == 0.0


def test_a_deleted_generation_moves_the_start_to_the_first_second_left_of_its_topic() -> None:
    # Worked example, period 120 s: the run began in generation 10 (seconds 1200-1319); by
    # its end 10 was deleted. What is left of the topic begins at second 1320 (generation
    # 11), so the whole bus is counted from 1320 on, though another topic goes back further.
    start = {
        tp("sw.events.customs.g10"): 5,
        tp("sw.events.customs.g11"): 0,
        tp("sw.declarations.status"): 7,
    }
    now = [tp("sw.events.customs.g11"), tp("sw.events.customs.g12"), tp("sw.declarations.status")]
    counted = {
        ("sw.events.customs.g11", 1321): [2, 200],
        ("sw.events.customs.g11", 1320): [1, 100],
        ("sw.events.customs.g12", 1440): [4, 400],
        ("sw.declarations.status", 1250): [9, 900],
    }
    assert _whole_from(start, now, counted) == 1320.0
