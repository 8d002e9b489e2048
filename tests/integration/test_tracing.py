"""Optional OpenTelemetry tracing: one trace follows a request from the gateway through
ticketing into escalation (spans collected in memory from the real in-process services)."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kefu_common.tracing import configure_tracing

CREATE = "kefu.ticketing.v1.TicketingService/CreateTicket"
RESOLVE = "kefu.escalation.v1.EscalationService/ResolveSla"


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    # The tracer provider is process-wide and set once: later tests' spans also land here.
    exporter = InMemorySpanExporter()
    configure_tracing("test", enabled=True, exporter=exporter)
    return exporter


def ticket_body() -> dict[str, object]:
    return {"customer": {"id": f"C-{uuid.uuid4().hex[:8]}", "tier": "vip"}, "channel": "phone",
            "severity": "high", "category": "quality", "subject": "traced"}


async def test_one_trace_spans_gateway_ticketing_and_escalation(gateway, auth, spans) -> None:
    spans.clear()
    response = await gateway.post("/v1/tickets", json=ticket_body(), headers=auth)
    assert response.status_code == 201
    finished = {s.context.span_id: s for s in spans.get_finished_spans()}
    (http,) = [s for s in finished.values() if s.name == "POST /v1/tickets"]
    (create,) = [s for s in finished.values() if s.name == CREATE]
    (resolve,) = [s for s in finished.values() if s.name == RESOLVE]
    assert create.context.trace_id == resolve.context.trace_id == http.context.trace_id
    assert resolve.parent.span_id == create.context.span_id
    ancestor = create
    while ancestor.parent is not None and ancestor.parent.span_id in finished:
        ancestor = finished[ancestor.parent.span_id]
    assert ancestor is http  # CreateTicket runs inside the gateway's request span
    assert http.attributes["kefu.request_id"] == response.headers["x-request-id"]
    assert create.attributes["rpc.grpc.status_code"] == 0


async def test_a_callers_traceparent_is_continued_and_errors_are_marked(gateway, auth, spans) -> None:
    spans.clear()
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    response = await gateway.get(
        f"/v1/tickets/{uuid.uuid4()}", headers={**auth, "traceparent": traceparent}
    )
    assert response.status_code == 404
    finished = spans.get_finished_spans()
    (get,) = [s for s in finished if s.name == "kefu.ticketing.v1.TicketingService/GetTicket"]
    assert format(get.context.trace_id, "032x") == trace_id
    assert not get.status.is_ok
    assert get.attributes["rpc.grpc.status_code"] == 5  # NOT_FOUND
