"""OpenTelemetry tracing across HTTP and Kafka hops, when SW_OTEL_ENDPOINT is set.

A declaration is one trace. Its trace id comes from the envelope's `correlation_id`, and
each message's span id from the message's own `id`. The span of a message's handling is
the child of the span of the message that caused it (`causation_id`). So the trace context
travels inside the envelope across every Kafka hop, with no header or outbox column, and a
reply replayed from the inbox keeps its place. HTTP requests get server spans whose parent
comes from the caller's `traceparent` header. The gateway's span of a new declaration
(`declared`) is the root of the declaration's trace and links to the HTTP request.

Needs the `otel` extra (opentelemetry-sdk and the OTLP/HTTP exporter). Without an
endpoint, nothing here runs, and the SDK need not be installed.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import datetime
from typing import Any

from schemas.envelope import Envelope

log = logging.getLogger(__name__)

_tracer: Any = None  # an opentelemetry Tracer once `setup` or `install` ran
_preset_trace: contextvars.ContextVar[int] = contextvars.ContextVar("sw_trace", default=0)
_preset_span: contextvars.ContextVar[int] = contextvars.ContextVar("sw_span", default=0)


def trace_id_of(correlation_id: str) -> int:
    """The 128-bit trace id of a workflow: its UUID correlation id, else a hash of it."""
    try:
        value = uuid.UUID(correlation_id).int
    except ValueError:
        value = int.from_bytes(hashlib.sha256(correlation_id.encode()).digest()[:16], "big")
    return value or 1


def span_id_of(message_id: str) -> int:
    """The 64-bit span id of a message: the random half of its UUIDv7, else a hash of it."""
    try:
        value = uuid.UUID(message_id).int & 0xFFFF_FFFF_FFFF_FFFF
    except ValueError:
        value = int.from_bytes(hashlib.sha256(message_id.encode()).digest()[:8], "big")
    return value or 1


def enabled() -> bool:
    """Whether spans are being recorded in this process."""
    return _tracer is not None


def setup(service: str, endpoint: str | None) -> None:
    """Export spans over OTLP/HTTP to `endpoint` (…:4318), if one is set."""
    if not endpoint:
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise RuntimeError(
            "SW_OTEL_ENDPOINT is set but OpenTelemetry is not installed: "
            "pip install 'singlewindow[otel]'"
        ) from exc
    provider = make_provider(service)
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    log.info("tracing to %s", endpoint)


def make_provider(service: str) -> Any:
    """A TracerProvider named after the service, whose ids can follow the envelopes."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class EnvelopeIds(RandomIdGenerator):
        """Random ids, unless a message span asked for the ids its envelope implies."""

        def generate_span_id(self) -> int:
            return _preset_span.get() or super().generate_span_id()

        def generate_trace_id(self) -> int:
            return _preset_trace.get() or super().generate_trace_id()

    resource = Resource.create({"service.name": f"singlewindow-{service}"})
    return TracerProvider(resource=resource, id_generator=EnvelopeIds())


def install(provider: Any) -> None:
    """Record spans with `provider` (tests pass one with an in-memory exporter)."""
    global _tracer
    _tracer = provider.get_tracer("singlewindow") if provider is not None else None


@contextlib.contextmanager
def _ids(trace_id: int, span_id: int) -> Iterator[None]:
    trace_token = _preset_trace.set(trace_id)
    span_token = _preset_span.set(span_id)
    try:
        yield
    finally:
        _preset_span.reset(span_token)
        _preset_trace.reset(trace_token)


@contextlib.contextmanager
def message_span(service: str, envelope: Envelope, topic: str) -> Iterator[Any]:
    """The span of one message handled by `service`: child of its cause's span."""
    if _tracer is None:
        yield None
        return
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

    trace_id = trace_id_of(envelope.correlation_id)
    context = trace.set_span_in_context(trace.INVALID_SPAN)  # no cause: the trace's root
    if envelope.causation_id:
        parent = SpanContext(
            trace_id,
            span_id_of(envelope.causation_id),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        context = trace.set_span_in_context(NonRecordingSpan(parent))
    with (
        _ids(trace_id, span_id_of(envelope.id)),
        _tracer.start_as_current_span(
            f"{service} handle {envelope.type}",
            context=context,
            kind=SpanKind.CONSUMER,
            attributes=_message_attributes(envelope, topic),
        ) as span,
    ):
        yield span


def declared(envelope: Envelope, topic: str = "") -> None:
    """Record the root span of a new declaration's trace, linked to the current HTTP span."""
    if _tracer is None:
        return
    from opentelemetry import trace
    from opentelemetry.trace import Link, SpanKind

    current = trace.get_current_span().get_span_context()
    links = [Link(current)] if current.is_valid else []
    start = _nanoseconds(envelope.occurred_at)
    with _ids(trace_id_of(envelope.correlation_id), span_id_of(envelope.id)):
        span = _tracer.start_span(
            f"gateway {envelope.type}",
            context=trace.set_span_in_context(trace.INVALID_SPAN),  # a new trace: the root
            kind=SpanKind.PRODUCER,
            links=links,
            attributes=_message_attributes(envelope, topic),
            start_time=start,
        )
    span.end()


def _message_attributes(envelope: Envelope, topic: str) -> dict[str, str]:
    return {
        "messaging.system": "kafka",
        "messaging.destination.name": topic,
        "messaging.message.id": envelope.id,
        "messaging.message.conversation_id": envelope.correlation_id,
        "sw.declaration_id": envelope.declaration_id,
        "sw.message_type": envelope.type,
    }


def _nanoseconds(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TracingMiddleware:
    """A server span for each HTTP request, child of the caller's `traceparent` if any."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _tracer is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind, Status, StatusCode

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method, path = scope["method"], scope["path"]
        with _tracer.start_as_current_span(
            f"{method} {path}",
            context=extract(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        ) as span:

            async def traced_send(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                    route = scope.get("route")
                    if route is not None and hasattr(route, "path"):
                        span.update_name(f"{method} {route.path}")
                await send(message)

            await self.app(scope, receive, traced_send)
