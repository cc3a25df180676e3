"""`singlewindow events`: unframing records, filters, and the line each envelope prints as."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas.topics import STATUS, commands, events
from singlewindow.tail import Filter, Seen, envelopes_in, line_of, topics_to_follow


def envelope(type_: str, declaration_id: str = "01a2-0001", **payload: Any) -> dict[str, Any]:
    return {
        "id": f"m-{type_}",
        "type": type_,
        "declaration_id": declaration_id,
        "occurred_at": "2026-12-06T06:09:53.431000Z",
        "payload": payload,
    }


def test_a_record_holds_one_envelope_or_a_frame_of_many() -> None:
    one = envelope("tax.refund.paid", method="免退")
    two = [envelope("customs.goods.release"), envelope("forex.receipt.settle")]
    assert envelopes_in(json.dumps(one).encode()) == [one]
    assert envelopes_in(json.dumps(two).encode()) == two
    assert envelopes_in(b"[]") == []  # an empty frame holds nothing, and is no error


@pytest.mark.parametrize(
    "value", [b"not json", b"", None, b"42", b'{"no": "type"}', b'[{"id": "x", "type": "t"}, 1]']
)
def test_a_record_of_anything_else_is_refused(value: bytes | None) -> None:
    with pytest.raises(ValueError):
        envelopes_in(value)


def test_filters_take_type_patterns_and_declaration_ids_or_their_ends() -> None:
    paid = envelope("tax.refund.paid", "01a2-aaaa-9f3a99")
    status = envelope("declaration.status.changed", "01a2-bbbb-123456")
    assert Filter().admits(paid) and Filter().admits(status)
    assert Filter(types=("tax.*",)).admits(paid)
    assert not Filter(types=("tax.*",)).admits(status)
    assert Filter(types=("customs.*", "declaration.status.changed")).admits(status)
    assert Filter(declarations=("9f3a99",)).admits(paid)
    assert Filter(declarations=("01a2-aaaa-9f3a99",)).admits(paid)
    assert not Filter(declarations=("9f3a99",)).admits(status)
    # Both given: both must hold.
    assert not Filter(types=("tax.*",), declarations=("123456",)).admits(status)
    assert not Filter(types=("tax.*",), declarations=("123456",)).admits(paid)


def test_all_adds_each_agencys_command_and_event_topics_to_the_status_topic() -> None:
    assert topics_to_follow(agencies=False) == [STATUS]
    followed = topics_to_follow(agencies=True)
    assert followed[0] == STATUS and len(followed) == 9
    assert {commands("tax"), events("tax"), commands("customs"), events("forex")} <= set(followed)


def test_a_line_says_when_where_what_and_the_gist() -> None:
    change = envelope(
        "declaration.status.changed",
        status="completed",
        previous_state="refunding",
        state="completed",
        steps={"tax": "refund_paid"},
    )
    line = line_of(Seen(STATUS, 0, 7, envelope=change)).plain
    assert line.startswith("06:09:53.431 status ")
    assert line.endswith("01a2-0001                             completed: refunding → completed")
    paid = envelope("tax.refund.paid", amount="11076.00", currency="CNY", nested={"x": 1})
    line = line_of(Seen(events("tax"), 1, 3, envelope=paid)).plain
    assert "← tax" in line and "tax.refund.paid" in line
    assert line.endswith("amount=11076.00 currency=CNY")  # plain fields only
    sent = line_of(Seen(commands("tax"), 1, 3, envelope=envelope("tax.refund.apply"))).plain
    assert "→ tax" in sent
    bad = line_of(Seen(events("tax"), 1, 4, error="unreadable record: Expecting value")).plain
    assert bad == "sw.tax.events[1]@4 unreadable record: Expecting value"
