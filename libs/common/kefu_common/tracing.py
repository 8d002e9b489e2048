"""Optional OpenTelemetry tracing across gateway -> services (off by default).

`KEFU_TRACING_ENABLED=true` makes a process export its spans with OTLP over gRPC; the
exporter reads the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, default
`localhost:4317`, `OTEL_EXPORTER_OTLP_HEADERS`, ...). Off, the OpenTelemetry API's no-op tracer
is used: nothing is recorded or sent, and no `traceparent` is added to outgoing calls.

Where spans come from (one place each, like the correlation id):
* the gateway: FastAPI's own native telemetry (FastAPI >= 0.165), active as soon as a tracer
  provider is installed: a SERVER span per HTTP request (`METHOD /route/template`, continuing
  the caller's `traceparent`) with child spans for dependencies, endpoint and serialization;
  the request middleware adds the correlation id (`kefu.request_id`) to it;
* the shared gRPC client interceptors: the current span context goes out as W3C
  `traceparent` metadata on every call;
* the shared gRPC server interceptor: a SERVER span per RPC (`package.Service/Method`),
  continuing the caller's context.
So one trace covers gateway -> ticketing -> escalation. Client-side spans and database spans
are not recorded (yet).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

TRACER_NAME = "kefu"


def configure_tracing(service: str, *, enabled: bool, exporter: Any = None) -> None:
    """Install the SDK's tracer provider for this process when `enabled` (once per process).
    `exporter` replaces the OTLP exporter (tests pass an in-memory one)."""
    if not enabled:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"kefu-{service}"}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def annotate_current_span(**attributes: Any) -> None:
    """Add attributes to the span in progress (nothing happens when nothing is traced)."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes(attributes)


def outgoing_headers() -> list[tuple[str, str]]:
    """The current span context as W3C trace headers (empty when nothing is being traced)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return list(carrier.items())


class ServerSpan:
    """A SERVER span made current from creation until `end()` (call both in one task)."""

    def __init__(self, name: str, metadata: Iterable[tuple[str, Any]]) -> None:
        carrier = {k: v for k, v in metadata if isinstance(v, str)}  # binary metadata: skip
        parent = propagate.extract(carrier)
        self.span = trace.get_tracer(TRACER_NAME).start_span(
            name, context=parent, kind=SpanKind.SERVER
        )
        self._token = otel_context.attach(trace.set_span_in_context(self.span))

    def end(self, *, error: str | None = None, **attributes: Any) -> None:
        self.span.set_attributes(attributes)
        if error is not None:
            self.span.set_status(Status(StatusCode.ERROR, error))
        self.span.end()
        otel_context.detach(self._token)
