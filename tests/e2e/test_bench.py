"""The bench's two yardsticks run on a real broker with real processes and measure something."""

from __future__ import annotations

from singlewindow.bench.run import raw_chain, skeleton


def test_the_skeleton_completes_declarations() -> None:
    # The driver returns only once every declaration's last status came back (or it times out
    # at 60 s, which would show as a rate far below 200 / 60).
    rate = skeleton(200)
    assert rate > 200 / 60


def test_the_raw_chain_passes_messages_through_its_hops() -> None:
    rate = raw_chain(2, 1000)
    assert rate > 1000 / 60
