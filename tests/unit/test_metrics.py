"""Labelled metric children, looked up once each: the same series as `labels()`."""

from __future__ import annotations

from services.common.metrics import Metrics


def test_a_labelled_child_is_looked_up_once_and_counts_in_the_registry() -> None:
    metrics = Metrics("gateway")
    ok = metrics.handled_of("tax.refund.paid", "ok")
    assert metrics.handled_of("tax.refund.paid", "ok") is ok
    assert ok is metrics.handled.labels("tax.refund.paid", "ok")
    ok.inc()
    metrics.handled_of("tax.refund.paid", "ok").inc()
    metrics.handled_of("tax.refund.paid", "dead_letter").inc()
    value = metrics.registry.get_sample_value
    assert value("sw_messages_handled_total", {"type": "tax.refund.paid", "outcome": "ok"}) == 2
    labels = {"type": "tax.refund.paid", "outcome": "dead_letter"}
    assert value("sw_messages_handled_total", labels) == 1
