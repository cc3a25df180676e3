"""A page's buffer under a flood: moves may be sampled away, a declaration's end is kept."""

from __future__ import annotations

from gateway.dashboard.stream import Subscription


def test_a_newer_status_replaces_the_waiting_one_of_the_same_declaration() -> None:
    sub = Subscription("ent_a", limit=3)
    sub.offer("d1", "d1 submitted")
    sub.offer("d2", "d2 submitted")
    sub.offer("d1", "d1 in progress")
    assert sub.take(10) == ["d2 submitted", "d1 in progress"]
    assert sub.dropped == 0


def test_over_the_limit_the_oldest_move_goes_before_any_end() -> None:
    sub = Subscription("ent_a", limit=3)
    sub.offer("d1", "d1 completed", ended=True)
    sub.offer("d2", "d2 in progress")
    sub.offer("d3", "d3 rejected", ended=True)
    sub.offer("d4", "d4 submitted")  # one too many: d2's move goes, not d1's older end
    assert sub.dropped == 1
    assert sub.take(10) == ["d1 completed", "d3 rejected", "d4 submitted"]


def test_when_every_waiting_status_is_an_end_the_oldest_goes() -> None:
    sub = Subscription("ent_a", limit=2)
    sub.offer("d1", "d1 completed", ended=True)
    sub.offer("d2", "d2 failed", ended=True)
    sub.offer("d3", "d3 completed", ended=True)
    assert sub.dropped == 1
    assert sub.take(10) == ["d2 failed", "d3 completed"]


def test_a_declaration_that_moves_again_is_no_longer_kept_as_ended() -> None:
    # An end replaced by a later move (an operator's retry of a failed declaration) is a
    # move like any other.
    sub = Subscription("ent_a", limit=2)
    sub.offer("d1", "d1 failed", ended=True)
    sub.offer("d1", "d1 in progress")
    sub.offer("d2", "d2 completed", ended=True)
    sub.offer("d3", "d3 completed", ended=True)
    assert sub.take(10) == ["d2 completed", "d3 completed"]
