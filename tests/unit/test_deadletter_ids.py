"""Dead-letter ids are positions in sw.deadletter; anything else is not found, never a 500."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from gateway.api.deadletters import (
    LetterNotFound,
    letter_id,
    original_bytes,
    parse_letter_id,
    replay_row,
)
from schemas.deadletter import DeadLetter


def test_a_letter_id_round_trips_partition_and_offset() -> None:
    assert letter_id(1, 42) == "1-42"
    assert parse_letter_id("1-42") == (1, 42)


@pytest.mark.parametrize("bad", ["", "1", "1-", "-3", "a-1", "1-b", "1-2-3", "-1-2"])
def test_a_malformed_letter_id_is_not_found(bad: str) -> None:
    with pytest.raises(LetterNotFound):
        parse_letter_id(bad)


def test_unreadable_bytes_are_replayed_exactly_as_consumed() -> None:
    raw = b"\xff\xfe not utf-8"
    letter = dead_letter(value="base64:" + base64.b64encode(raw).decode())
    assert original_bytes(letter) == raw
    assert original_bytes(dead_letter(value='{"a": 1}')) == b'{"a": 1}'


def test_a_letter_read_from_a_generation_goes_back_to_its_base_topic() -> None:
    # The generation it came from may be deleted by now; the relay writes the base topic's
    # row to whichever generation is live.
    assert replay_row(dead_letter(value="{}", topic="sw.customs.commands.g29617")).topic == (
        "sw.customs.commands"
    )
    assert replay_row(dead_letter(value="{}")).topic == "sw.customs.commands"


def dead_letter(*, value: str, topic: str = "sw.customs.commands") -> DeadLetter:
    return DeadLetter(
        reason="unreadable",
        kind="unparseable",
        service="customs",
        topic=topic,
        partition=0,
        offset=7,
        key=None,
        value=value,
        at=datetime(2026, 11, 23, tzinfo=UTC),
    )
