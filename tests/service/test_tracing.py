"""A declaration is one trace: each handled message's span is the child of its cause's span.

The trace context rides in the envelope (correlation id → trace id, message id → span id),
so it crosses a Kafka hop as bytes. Spans go to the SDK's in-memory exporter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gateway import saga as sagas
from gateway.core.config import GatewayConfig
from gateway.saga.handlers import put_saga, send
from schemas.envelope import decode
from schemas.ids import uuid7
from schemas.samples import sample_declaration
from schemas.trade import DeclarationData
from services.common import tracing
from services.common.changes import Changes
from services.common.database import Database
from services.common.db import create_tables_sync
from tests.service.test_deadlines import gateway_processor
from tests.service.test_processor import customs_processor


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = tracing.make_provider("test")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.install(None)


async def test_the_reply_is_handled_in_a_child_span_of_the_command_in_the_same_trace(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    gateway_db, customs_db = (
        Database(f"sqlite:///{tmp_path / 'g.db'}"),
        Database(f"sqlite:///{tmp_path / 'c.db'}"),
    )
    try:
        for db in (gateway_db, customs_db):
            await db.write(create_tables_sync)
        declaration_id = uuid7()
        config = GatewayConfig(step_deadline_s=10, step_max_attempts=3)
        begun = sagas.start(
            declaration_id, "ent", DeclarationData.model_validate(sample_declaration())
        )
        saga, commands = send(
            begun.saga, begun.commands, cause=None, config=config, now=time.time()
        )
        changes = Changes()
        changes.put(put_saga(saga, None))
        await gateway_db.write(changes.apply)
        customs = customs_processor(customs_db)
        gateway = gateway_processor(gateway_db, config)
        (filed,) = commands
        answer, *_ = await customs.process([filed])  # accepted (released, closed follow)
        await gateway.process([decode(answer.value)])  # across the hop as bytes
    finally:
        gateway_db.dispose()
        customs_db.dispose()

    by_name = {s.name: s for s in spans.get_finished_spans()}
    command_span = by_name["customs handle customs.declaration.file"]
    reply_span = by_name[f"gateway handle {decode(answer.value).type}"]
    trace_id = tracing.trace_id_of(declaration_id)
    assert command_span.context.trace_id == reply_span.context.trace_id == trace_id
    assert command_span.context.span_id == tracing.span_id_of(filed.id)
    assert command_span.parent is None  # sent without a cause: the root of this trace
    assert reply_span.parent is not None
    assert reply_span.parent.span_id == command_span.context.span_id
    assert reply_span.context.span_id == tracing.span_id_of(answer.message_id)
    assert command_span.kind == SpanKind.CONSUMER
    assert command_span.attributes["sw.declaration_id"] == declaration_id
    assert command_span.attributes["messaging.destination.name"] == "sw.customs.commands"


def test_ids_follow_the_envelope_and_are_never_zero() -> None:
    # UUIDs map onto the ids directly: the whole UUID is the trace id, its low 64 bits the
    # span id; other strings are hashed.
    assert tracing.trace_id_of("00000000-0000-0000-0000-0000000000ff") == 0xFF
    assert tracing.span_id_of("01234567-89ab-7def-8123-456789abcdef") == 0x8123456789ABCDEF
    assert tracing.trace_id_of("not-a-uuid") == tracing.trace_id_of("not-a-uuid") != 0
    assert tracing.span_id_of("00000000-0000-0000-0000-000000000000") == 1


def test_without_an_endpoint_nothing_is_set_up() -> None:
    tracing.setup("customs", None)
    assert not tracing.enabled()
