"""The skeleton bench carries exactly the messages of a happy export 0110 declaration, in the
flow's old shape (before issue 15) and its new one."""

from __future__ import annotations

from collections import Counter

from singlewindow.bench.skeleton import (
    SHAPES,
    STATUS,
    Shape,
    answer_of,
    commands,
    follow_up,
    frame,
    is_done,
    message,
    step_of,
    unframe,
)

OLD, NEW = SHAPES["old"], SHAPES["new"]


def run_one_declaration(shape: Shape) -> tuple[Counter[str], list[bytes]]:
    """Every envelope one declaration makes, by topic, and its status messages in order."""
    queue = [
        (STATUS, b"d1", message(0, shape.status_bytes)),
        (commands(shape.script[0]), b"d1", message(0, shape.command_bytes)),
    ]
    produced: Counter[str] = Counter()
    statuses = []
    while queue:
        topic, key, value = queue.pop(0)
        produced[topic] += 1
        if topic == STATUS:  # nobody but the driver reads the status topic
            statuses.append(value)
        else:
            queue.extend(follow_up(shape, topic, key, value))
    return produced, statuses


def test_the_old_shape_makes_the_old_systems_sixteen_messages() -> None:
    # What a real run of export 0110 put on each topic per declaration (bench/RESULTS.md).
    produced, _ = run_one_declaration(OLD)
    assert produced == {
        "skeleton.customs.commands": 3,
        "skeleton.customs.events": 3,
        "skeleton.forex.commands": 1,
        "skeleton.forex.events": 1,
        "skeleton.tax.commands": 1,
        "skeleton.tax.events": 1,
        STATUS: 6,
    }
    assert OLD.hops == 10  # customs 3, forex 1, tax 1, and the gateway once for each answer
    assert OLD.status_readers == 2  # the gateway read its own status: dashboard, webhooks
    # 10 envelopes of 600 B and 6 status records of 1,000 B
    assert OLD.bytes_per_declaration == 10 * 600 + 6 * 1000


def test_the_new_shape_files_once_with_customs_and_keeps_a_status_per_event() -> None:
    produced, statuses = run_one_declaration(NEW)
    assert produced == {
        "skeleton.customs.commands": 1,
        "skeleton.customs.events": 3,  # accepted, released, closed: sent together
        "skeleton.forex.commands": 1,
        "skeleton.forex.events": 1,
        "skeleton.tax.commands": 1,
        "skeleton.tax.events": 1,
        STATUS: 6,  # still one public record per change
    }
    assert NEW.hops == 6
    assert NEW.status_readers == 0  # webhooks and the dashboard fed from its own transactions
    # 3 commands of 250 B, 5 events of 200 B, 6 status records of 200 B: under 3 KB
    assert NEW.bytes_per_declaration == 3 * 250 + 5 * 200 + 6 * 200 == 2950
    assert [is_done(s) for s in statuses] == [False] * 5 + [True]


def test_customs_answers_a_filing_with_three_events_and_the_gateway_moves_on_after_the_last() -> (
    None
):
    answers = follow_up(NEW, "skeleton.customs.commands", b"d1", message(0, 250))
    assert [(t, step_of(v), answer_of(v)) for t, _, v in answers] == [
        ("skeleton.customs.events", 0, 0),
        ("skeleton.customs.events", 0, 1),
        ("skeleton.customs.events", 0, 2),
    ]
    first, _, last = (follow_up(NEW, t, k, v) for t, k, v in answers)
    assert [t for t, _, _ in first] == [STATUS]
    assert [t for t, _, _ in last] == ["skeleton.forex.commands", STATUS]


def test_only_the_last_status_says_done() -> None:
    statuses = [message(step, OLD.status_bytes, last=step == 5) for step in range(6)]
    assert [is_done(s) for s in statuses] == [False] * 5 + [True]
    assert all(len(s) == OLD.status_bytes for s in statuses)


def test_a_frame_gives_back_its_envelopes_in_order() -> None:
    items = [(b"d1", message(1, 250)), (b"d22", message(2, 200, answer=1)), (b"", b"")]
    assert unframe(frame(items)) == items


def test_the_gateway_sends_the_next_command_and_the_status_of_the_move() -> None:
    out = follow_up(OLD, "skeleton.customs.events", b"d1", message(2, 600))
    assert [(t, step_of(v)) for t, _, v in out] == [("skeleton.forex.commands", 3), (STATUS, 3)]
    assert len(out[0][2]) == OLD.command_bytes
