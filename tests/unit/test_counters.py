"""Serial numbers in blocks: one claim (a record write) gives a replica `block` numbers."""

from __future__ import annotations

import json

from services.common.changes import Held
from services.common.counters import BlockCounters


def held(last: int, version: int = 1) -> Held:
    return Held("serial|entry", "", "serial", None, version, json.dumps({"last": last}).encode(), 0)


def test_a_block_is_claimed_once_and_handed_out_from_memory() -> None:
    """Block of 3 on a counter claimed up to 10: 11 claims 11-13 (record → 13), 12 and 13
    come from memory, 14 claims 14-16 from the record as it then reads."""
    counters = BlockCounters(3)
    first = counters.peek("serial|entry", held(10))
    assert (first.number, first.end) == (11, 13)
    (claim,) = counters.take(first)
    assert json.loads(claim.data) == {"last": 13} and claim.expected_version == 1
    numbers = []
    for _ in range(2):
        assert not counters.needs_record("serial|entry")
        ticket = counters.peek("serial|entry", None)
        assert counters.take(ticket) == []
        numbers.append(ticket.number)
    assert numbers == [12, 13]
    assert counters.needs_record("serial|entry")
    assert counters.peek("serial|entry", held(13, version=2)).number == 14


def test_a_number_peeked_but_not_taken_is_given_next_time() -> None:
    """A rejected declaration takes no number: peeking does not use one up."""
    counters = BlockCounters(5)
    counters.take(counters.peek("k", None))  # 1, block 1-5
    assert counters.peek("k", None).number == counters.peek("k", None).number == 2


def test_a_rolled_back_transaction_gives_its_numbers_and_claims_back() -> None:
    counters = BlockCounters(5)
    mark = counters.mark()
    counters.take(counters.peek("k", None))
    counters.restore(mark)
    again = counters.peek("k", None)
    assert (again.number, again.claim is not None) == (1, True)  # the claim is made again


def test_a_clean_stop_offers_back_the_unused_rest_of_each_block() -> None:
    """Claimed up to 5, gave 1-2: the record may go back from 5 to 2 (if nobody claimed since)."""
    counters = BlockCounters(5)
    for _ in range(2):
        counters.take(counters.peek("k", None))
    assert counters.spare() == [("k", b'{"last":5}', b'{"last":2}')]
