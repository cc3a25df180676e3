"""Hot counters handed out in blocks: a replica claims many numbers with one row write.

A counter is a record whose JSON says the last number claimed. A process claims the next
`block` numbers in the transaction that uses the first of them and hands out the rest from
memory, so replicas do not all read and bump one row for every number. Numbers stay unique;
they are in order within a process, not across replicas. A claim rolled back is forgotten
(`restore`), a clean stop gives the unused rest back (`spare`), so only a crash leaves a gap.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.base import Contract
from services.common.changes import Held, Put


class Claimed(Contract):
    """A counter record: the last number claimed in its scope."""

    last: int = 0


@dataclass(frozen=True, slots=True)
class Ticket:
    """The next number of a counter, not taken until `BlockCounters.take`."""

    key: str
    number: int
    end: int  # the last number of the block it comes from
    claim: Put | None  # the record write that claims the block, if this number opens one


class BlockCounters:
    """The blocks this process holds, by counter key: (last number given, last claimed)."""

    def __init__(self, block: int) -> None:
        self.block = max(1, block)
        self._blocks: dict[str, tuple[int, int]] = {}

    def needs_record(self, key: str) -> bool:
        """Whether the next number of `key` opens a block (so its record must be read)."""
        given, end = self._blocks.get(key, (0, 0))
        return given >= end

    def peek(self, key: str, held: Held | None) -> Ticket:
        """The next number of `key`; `held` is its record (read when `needs_record`)."""
        given, end = self._blocks.get(key, (0, 0))
        if given < end:
            return Ticket(key, given + 1, end, None)
        last = Claimed.model_validate_json(held.data).last if held is not None else 0
        end = last + self.block
        claim = Put.of(key, Claimed(last=end), status="serial", previous=held)
        return Ticket(key, last + 1, end, claim)

    def take(self, ticket: Ticket) -> list[Put]:
        """Give out a ticket's number; the record writes that must commit with it."""
        self._blocks[ticket.key] = (ticket.number, ticket.end)
        return [ticket.claim] if ticket.claim is not None else []

    def mark(self) -> dict[str, tuple[int, int]]:
        """The blocks as they are, to `restore` if the transaction using them rolls back."""
        return dict(self._blocks)

    def restore(self, mark: dict[str, tuple[int, int]]) -> None:
        """Forget what was given or claimed since `mark`."""
        self._blocks = dict(mark)

    def spare(self) -> list[tuple[str, bytes, bytes]]:
        """Unused rests of blocks: (key, the record as claimed, the record given back)."""
        return [
            (key, _data(end), _data(given))
            for key, (given, end) in self._blocks.items()
            if given < end
        ]


def _data(last: int) -> bytes:
    return Claimed(last=last).model_dump_json().encode()
