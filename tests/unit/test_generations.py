"""Topic generations: naming by the clock, the order gate's decision, who must read what."""

from __future__ import annotations

import re

from aiokafka import TopicPartition

from schemas.topics import DEADLETTER, STATUS, commands, events, rotated
from services.common.generations import Generations, held, parse, pattern, readers


def test_off_keeps_the_plain_names() -> None:
    gens = Generations(0)
    assert not gens.on
    assert gens.live(commands("customs"), now=1_000_000.0) == "sw.customs.commands"


def test_a_generation_is_the_period_the_clock_is_in() -> None:
    gens = Generations(120)
    # 1,000,000 s / 120 s = 8333.33…: generation 8333 runs from 999,960 s to 1,000,080 s.
    assert gens.current(1_000_000.0) == 8333
    assert gens.live(STATUS, now=1_000_000.0) == "sw.declarations.status.g8333"
    assert gens.live(STATUS, now=1_000_080.0) == "sw.declarations.status.g8334"
    assert gens.ends_at(8333) == 1_000_080.0


def test_dead_letters_do_not_rotate() -> None:
    assert DEADLETTER not in rotated()
    assert Generations(60).live(DEADLETTER, now=5000.0) == DEADLETTER


def test_parse_and_pattern() -> None:
    assert parse("sw.tax.events.g42") == ("sw.tax.events", 42)
    assert parse("sw.tax.events") == ("sw.tax.events", -1)
    regex = re.compile(pattern([events("tax")]))
    assert regex.match("sw.tax.events")
    assert regex.match("sw.tax.events.g42")
    assert not regex.match("sw.tax.events.g42x")
    assert not regex.match("sw.tax.commands.g42")


def tp(topic: str, partition: int) -> TopicPartition:
    return TopicPartition(topic, partition)


def test_a_newer_generation_waits_for_the_same_partition_of_the_older() -> None:
    assigned = {tp("t.g1", 0), tp("t.g1", 1), tp("t.g2", 0), tp("t.g2", 1), tp("t.g3", 0)}
    # g1/0 still has records to read; g1/1 is through.
    ended = {tp("t.g1", 1), tp("t.g2", 1)}
    assert held(assigned, ended.__contains__) == {tp("t.g2", 0), tp("t.g3", 0)}


def test_a_plain_topic_counts_as_the_oldest_generation() -> None:
    assigned = {tp("t", 0), tp("t.g7", 0)}
    assert held(assigned, lambda _: False) == {tp("t.g7", 0)}
    assert held(assigned, lambda _: True) == set()


def test_one_generation_holds_nothing() -> None:
    assert held({tp("t.g1", 0), tp("u.g1", 0)}, lambda _: False) == set()


def test_who_must_read_a_generation_before_it_goes() -> None:
    def group_of(service: str) -> str:
        return f"sw-{service}"

    assert readers(commands("forex"), group_of) == ("sw-forex",)
    assert readers(events("forex"), group_of) == ("sw-gateway",)
    assert readers(STATUS, group_of) == ("sw-gateway-ceb",)
    assert readers(DEADLETTER, group_of) == ()
