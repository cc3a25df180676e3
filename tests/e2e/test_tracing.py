"""Tracing across real processes: every service exports to one OTLP endpoint, one trace each.

The endpoint is a small OTLP/HTTP receiver in this test process (protobuf over HTTP, as a
collector receives it). A declaration submitted with a `traceparent` header must give:
the gateway's HTTP span under the caller's span; a root span of the declaration's own
trace, linked to that HTTP span; and spans of the messages handled by each service of the
workflow, each the child of the span of the message that caused it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from schemas.samples import sample_declaration
from services.common.tracing import trace_id_of
from singlewindow.spawn import spawn_system
from tests.e2e.conftest import System
from tests.support import wait_for


@dataclass(frozen=True)
class Received:
    service: str
    name: str
    trace_id: int
    span_id: int
    parent_id: int
    links: tuple[int, ...]


class Collector(ThreadingHTTPServer):
    spans: list[Received]


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.server.spans.append(
                        Received(
                            attributes.get("service.name", ""),
                            span.name,
                            int.from_bytes(span.trace_id, "big"),
                            int.from_bytes(span.span_id, "big"),
                            int.from_bytes(span.parent_span_id or b"\0", "big"),
                            tuple(int.from_bytes(link.span_id, "big") for link in span.links),
                        )
                    )
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    server = Collector(("127.0.0.1", 0), _Handler)
    server.spans = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def traced(collector: Collector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    extra = {"SW_OTEL_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    data_dir = tmp_path_factory.mktemp("traced")
    with spawn_system(data_dir, extra_env=extra) as spawned:
        yield System(
            spawned.proc, spawned.port_base, spawned.broker, data_dir, spawned.generation_s
        )


def test_one_declaration_is_one_trace_across_http_and_every_kafka_hop(
    traced: System, collector: Collector
) -> None:
    caller_trace, caller_span = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
    traceparent = f"00-{caller_trace:032x}-{caller_span:016x}-01"
    with traced.client() as client:
        created = client.post(
            "/v1/declarations",
            json=sample_declaration("export", "0110", "happy"),
            headers={"traceparent": traceparent},
        ).json()
        assert traced.wait_terminal(client, created["id"])["status"] == "completed"
    trace_id = trace_id_of(created["id"])  # the correlation id of a declaration is its id
    # Every span of the workflow, not only its last: each process exports on its own
    # schedule, so a span can arrive before its parent's (CI once saw the gateway's
    # span of `customs.declaration.closed` before customs' span of the `close` it answers).
    expected = {
        "singlewindow-gateway": {
            "gateway declaration.submitted",
            "gateway handle customs.declaration.accepted",
            "gateway handle customs.goods.released",
            "gateway handle customs.declaration.closed",
            "gateway handle forex.receipt.settled",
            "gateway handle tax.refund.paid",
        },
        # Nothing holds the goods: customs releases and closes on the filing alone.
        "singlewindow-customs": {"customs handle customs.declaration.file"},
        "singlewindow-forex": {"forex handle forex.receipt.settle"},
        "singlewindow-tax": {"tax handle tax.refund.apply"},
    }

    def complete() -> list[Received] | None:
        mine = [s for s in list(collector.spans) if s.trace_id == trace_id]
        names = {(s.service, s.name) for s in mine}
        wanted = {(svc, n) for svc, ns in expected.items() for n in ns}
        return mine if wanted <= names else None

    spans = wait_for(complete, timeout_s=30, what="the declaration's spans", every_s=0.2)
    http = [
        s
        for s in collector.spans
        if s.name == "POST /v1/declarations" and s.trace_id == caller_trace
    ]
    assert len(http) == 1 and http[0].parent_id == caller_span
    (root,) = [s for s in spans if s.parent_id == 0]
    assert root.service == "singlewindow-gateway" and root.name == "gateway declaration.submitted"
    assert root.links == (http[0].span_id,)
    ids = {s.span_id for s in spans}
    # No orphan: every span but the root hangs from a span of the same trace.
    orphans = [s for s in spans if s is not root and s.parent_id not in ids]
    assert not orphans, orphans
    assert len(ids) == len(spans)  # each message handled once: one span each
