"""Topic generations: naming by the clock, the order gate's decision, who must read what."""

from __future__ import annotations

import re

from aiokafka import TopicPartition
from aiokafka.client import AIOKafkaClient

from schemas.topics import DEADLETTER, STATUS, commands, events, rotated
from services.common.generations import (
    Generations,
    forget,
    forget_old,
    held,
    parse,
    pattern,
    readers,
)


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


async def test_a_client_forgets_generations_older_than_the_one_before() -> None:
    # Worked example, period 60 s, now in generation 100: the producer had written to
    # generations 97..100 and to the plain dead-letter topic; 97 and 98 are gone from the
    # broker, 99 may still take a late send, 100 is live.
    gens = Generations(60)
    client = AIOKafkaClient(bootstrap_servers="127.0.0.1:9")
    names = [gens.name("sw.events.customs", g) for g in (97, 98, 99, 100)]
    client.set_topics([*names, DEADLETTER])
    forget_old(client, gens, 100)
    assert client._topics == {names[2], names[3], DEADLETTER}
    forget_old(client, gens, 100)  # nothing more to forget: the set stays as it is
    assert client._topics == {names[2], names[3], DEADLETTER}


async def test_a_client_keeps_its_topics_with_generations_off_or_nothing_newer() -> None:
    client = AIOKafkaClient(bootstrap_servers="127.0.0.1:9")
    client.set_topics(["sw.events.customs"])
    forget_old(client, Generations(0), 100)
    assert client._topics == {"sw.events.customs"}
    stale = Generations(60).name("sw.events.customs", 3)
    client.set_topics([stale])
    forget_old(client, Generations(60), 100)  # an empty set would ask for every topic
    assert client._topics == {stale}


async def test_a_reader_forgets_the_topics_no_longer_on_the_broker() -> None:
    # The load tool's lag readers: generation 7 was deleted, 8 is there, plain names stay.
    client = AIOKafkaClient(bootstrap_servers="127.0.0.1:9")
    client.set_topics(["sw.tax.commands.g7", "sw.tax.commands.g8", STATUS])
    on_broker = {"sw.tax.commands.g8", "sw.tax.commands.g9"}
    forget(client, lambda t: t in on_broker or parse(t)[1] < 0)
    assert client._topics == {"sw.tax.commands.g8", STATUS}
