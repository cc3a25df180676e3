"""Prometheus metrics every service exports."""

from __future__ import annotations

from typing import Generic, TypeVar, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from schemas.envelope import DecodeFailure

# Kinds a dead letter may have: a message no consumer could read, or one a handler refused.
DEAD_LETTER_KINDS = (*get_args(DecodeFailure), "not_handled", "handler_error")


M = TypeVar("M", bound=MetricWrapperBase)


class Labelled(Generic[M]):
    """A labelled metric's children, each looked up once: `labels()` takes a lock and checks
    its arguments on every call, which the hot path paid once or twice a message.

    For metrics whose children are never removed (no `clear()`), with few label values."""

    def __init__(self, metric: M) -> None:
        self.metric = metric
        self._children: dict[tuple[str, ...], M] = {}

    def __call__(self, *values: str) -> M:
        """The child of these label values (as `metric.labels(*values)`)."""
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.metric.labels(*values)
        return child


class Metrics:
    """One registry a process, so tests can build several apps side by side."""

    def __init__(self, service: str) -> None:
        self.registry = registry = CollectorRegistry()
        labels = {"service": service}

        def counter(name: str, doc: str, *labelnames: str) -> Counter:
            return Counter(name, doc, labelnames, registry=registry)

        def gauge(name: str, doc: str, *labelnames: str) -> Gauge:
            return Gauge(name, doc, labelnames, registry=registry)

        def histogram(
            name: str, doc: str, *labelnames: str, buckets: tuple[float, ...]
        ) -> Histogram:
            return Histogram(name, doc, labelnames, registry=registry, buckets=buckets)

        self.handled = counter(
            "sw_messages_handled_total", "Messages handled, by type and outcome", "type", "outcome"
        )
        self.duplicates = counter(
            "sw_messages_duplicate_total", "Messages already handled, skipped"
        )
        self.dead_letters = counter(
            "sw_dead_letters_total", "Messages sent to the dead-letter topic, by kind", "kind"
        )
        self.handled_of = Labelled(self.handled)
        for kind in DEAD_LETTER_KINDS:  # exported at 0 from the start, so rate() sees them
            self.dead_letters.labels(kind)
        self.handler_seconds = histogram(
            "sw_handler_seconds",
            "Time one handler took to decide on one message, by message type",
            "type",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
        )
        self.handler_seconds_of = Labelled(self.handler_seconds)
        self.consumer_lag = gauge(
            "sw_consumer_lag",
            "Records on the broker not yet consumed by this process, per assigned partition "
            "(refreshed on each scrape; a record on an internal topic may frame several "
            "messages, see sw_envelopes_consumed_total)",
            "topic",
            "partition",
        )
        # Webhook deliveries (sw_webhook_attempts_total{outcome}, sw_webhook_attempt_seconds)
        # are registered on the gateway's registry by gateway/webhooks/sender.py.
        self.batch_seconds = histogram(
            "sw_batch_seconds",
            "Time to handle one consumed batch in one transaction",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.batch_retries = counter(
            "sw_batch_retries_total", "Consumed batches rolled back and retried"
        )
        self.conflicts = counter(
            "sw_conflicts_total",
            "Messages set aside because a concurrent writer won a row they wrote (handled again)",
        )
        self.conflict_seconds = counter(
            "sw_conflict_seconds_total", "Time spent on batch attempts rolled back by a conflict"
        )
        self.published = counter("sw_outbox_published_total", "Messages published from the outbox")
        self.records_published = counter(
            "sw_records_published_total",
            "Kafka records the outbox relay sent (a frame on an internal topic carries several "
            "messages)",
        )
        # Lag (sw_consumer_lag) is counted in records, as the broker knows it; these say how
        # many messages a consumed record carried.
        self.records_consumed = counter(
            "sw_records_consumed_total", "Kafka records consumed, by topic", "topic"
        )
        self.envelopes_consumed = counter(
            "sw_envelopes_consumed_total",
            "Messages (envelopes) consumed, by topic: a frame counts each it carries",
            "topic",
        )
        self.records_consumed_of = Labelled(self.records_consumed)
        self.envelopes_consumed_of = Labelled(self.envelopes_consumed)
        self.outbox_backlog = gauge("sw_outbox_backlog", "Messages waiting in the outbox")
        self.purged = counter(
            "sw_purged_total",
            "Rows removed by retention: records, journal lines, inbox ids",
            "what",
        )
        self.info = gauge("sw_service_info", "Service identity", "service")
        self.info.labels(**labels).set(1)
