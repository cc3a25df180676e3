"""The skeleton bench carries exactly the messages of a happy export 0110 declaration."""

from __future__ import annotations

from collections import Counter

from singlewindow.bench.skeleton import (
    COMMAND_BYTES,
    DONE,
    SCRIPT,
    STATUS,
    STATUS_BYTES,
    commands,
    follow_up,
    message,
    step_of,
)


def run_one_declaration() -> Counter[str]:
    """Every message one declaration makes, by topic, following the skeleton's rules."""
    queue = [(STATUS, message(0, STATUS_BYTES)), (commands(SCRIPT[0]), message(0, COMMAND_BYTES))]
    produced: Counter[str] = Counter()
    while queue:
        topic, value = queue.pop(0)
        produced[topic] += 1
        if topic != STATUS:  # nobody but the driver reads the status topic
            queue.extend(follow_up(topic, value))
    return produced


def test_a_declaration_makes_the_real_systems_sixteen_messages() -> None:
    # What a real run of export 0110 put on each topic per declaration (bench/RESULTS.md).
    assert run_one_declaration() == {
        "skeleton.customs.commands": 3,
        "skeleton.customs.events": 3,
        "skeleton.forex.commands": 1,
        "skeleton.forex.events": 1,
        "skeleton.tax.commands": 1,
        "skeleton.tax.events": 1,
        STATUS: 6,
    }


def test_only_the_last_status_says_done() -> None:
    statuses = [message(step, STATUS_BYTES, last=step == len(SCRIPT)) for step in range(6)]
    assert [s[2:3] == DONE for s in statuses] == [False] * 5 + [True]
    assert all(len(s) == STATUS_BYTES for s in statuses)


def test_an_agency_answers_on_its_event_topic_with_the_same_step() -> None:
    [(topic, value)] = follow_up("skeleton.forex.commands", message(3, COMMAND_BYTES))
    assert topic == "skeleton.forex.events"
    assert step_of(value) == 3


def test_the_gateway_sends_the_next_command_and_the_status_of_the_move() -> None:
    out = follow_up("skeleton.customs.events", message(2, COMMAND_BYTES))
    assert [(t, step_of(v)) for t, v in out] == [("skeleton.forex.commands", 3), (STATUS, 3)]
    assert len(out[0][1]) == COMMAND_BYTES
