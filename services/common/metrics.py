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
        self.registry = CollectorRegistry()
        labels = {"service": service}
        self.handled = Counter(
            "sw_messages_handled_total",
            "Messages handled, by type and outcome",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "sw_messages_duplicate_total",
            "Messages already handled, skipped",
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "sw_dead_letters_total",
            "Messages sent to the dead-letter topic, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.handled_of = Labelled(self.handled)
        for kind in DEAD_LETTER_KINDS:  # exported at 0 from the start, so rate() sees them
            self.dead_letters.labels(kind)
        self.handler_seconds = Histogram(
            "sw_handler_seconds",
            "Time one handler took to decide on one message, by message type",
            ["type"],
            registry=self.registry,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
        )
        self.handler_seconds_of = Labelled(self.handler_seconds)
        self.consumer_lag = Gauge(
            "sw_consumer_lag",
            "Records on the broker not yet consumed by this process, per assigned partition "
            "(refreshed on each scrape; a record on an internal topic may frame several "
            "messages, see sw_envelopes_consumed_total)",
            ["topic", "partition"],
            registry=self.registry,
        )
        # Webhook deliveries (sw_webhook_attempts_total{outcome}, sw_webhook_attempt_seconds)
        # are registered on the gateway's registry by gateway/webhooks/sender.py.
        self.batch_seconds = Histogram(
            "sw_batch_seconds",
            "Time to handle one consumed batch in one transaction",
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.batch_retries = Counter(
            "sw_batch_retries_total",
            "Consumed batches rolled back and retried",
            registry=self.registry,
        )
        self.conflicts = Counter(
            "sw_conflicts_total",
            "Messages set aside because a concurrent writer won a row they wrote (handled again)",
            registry=self.registry,
        )
        self.conflict_seconds = Counter(
            "sw_conflict_seconds_total",
            "Time spent on batch attempts rolled back by a conflict",
            registry=self.registry,
        )
        self.published = Counter(
            "sw_outbox_published_total",
            "Messages published from the outbox",
            registry=self.registry,
        )
        self.records_published = Counter(
            "sw_records_published_total",
            "Kafka records the outbox relay sent (a frame on an internal topic carries several "
            "messages)",
            registry=self.registry,
        )
        # Lag (sw_consumer_lag) is counted in records, as the broker knows it; these say how
        # many messages a consumed record carried.
        self.records_consumed = Counter(
            "sw_records_consumed_total",
            "Kafka records consumed, by topic",
            ["topic"],
            registry=self.registry,
        )
        self.envelopes_consumed = Counter(
            "sw_envelopes_consumed_total",
            "Messages (envelopes) consumed, by topic: a frame counts each it carries",
            ["topic"],
            registry=self.registry,
        )
        self.records_consumed_of = Labelled(self.records_consumed)
        self.envelopes_consumed_of = Labelled(self.envelopes_consumed)
        self.outbox_backlog = Gauge(
            "sw_outbox_backlog", "Messages waiting in the outbox", registry=self.registry
        )
        self.purged = Counter(
            "sw_purged_total",
            "Rows removed by retention: records, journal lines, inbox ids",
            ["what"],
            registry=self.registry,
        )
        self.info = Gauge(
            "sw_service_info", "Service identity", ["service"], registry=self.registry
        )
        self.info.labels(**labels).set(1)
