"""Prometheus metrics: the one way every service counts and times its requests.

* gRPC services: the shared server interceptor (grpc_server.py) records every RPC in
  `grpc_server_handled_total` and `grpc_server_handling_seconds`; `MetricsExporter` serves them
  on `<SVC>_METRICS_PORT` (0 = not served, the default outside Kubernetes).
* gateway: its request middleware (`observe_http`) records every request by route template in
  `http_server_requests_total` and `http_server_request_duration_seconds`; `/metrics` on the
  gateway's own port serves them.
* domain gauges live beside the code that knows the value (e.g. ticketing's outbox sequence)
  and are created here so that every name is in one place.

The metric objects are process-wide (prometheus-client's default registry), as the client
library intends. A gateway with `GATEWAY_WORKERS` > 1 has one registry per worker process;
Kubernetes runs one worker per pod and scales pods instead.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from kefu_common.logging import get_logger

log = get_logger("kefu.metrics")

# Latency buckets in seconds: 1 ms .. 10 s (loopback RPCs are ~1 ms, a slow query ~1 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

GRPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from receiving an RPC to its last response, by method.",
    ["grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "http_server_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION_SECONDS = Histogram(
    "http_server_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
# Domain gauges. Outbox backlog = max(kefu_ticketing_outbox_last_sequence)
#   - max(kefu_escalation_consumer_last_sequence)   (docs/operations.md)
OUTBOX_LAST_SEQUENCE = Gauge(
    "kefu_ticketing_outbox_last_sequence",
    "Highest ticketing outbox sequence this process has written.",
)
CONSUMER_LAST_SEQUENCE = Gauge(
    "kefu_escalation_consumer_last_sequence",
    "Highest ticketing event sequence the escalation inbox has stored.",
)

SLA_TIMER_LAG_SECONDS = Histogram(
    "kefu_escalation_timer_lag_seconds",
    "From the instant a warning/breach fell due to the timer pass that recorded it.",
    buckets=LATENCY_BUCKETS,
)
SLA_CLOCK_FACTS = Counter(
    "kefu_escalation_clock_facts_total",
    "Warnings and breaches recorded by the SLA timer, by kind and target.",
    ["kind", "target"],
)
ESCALATIONS = Counter(
    "kefu_escalations_total",
    "Escalations recorded, by trigger and the level they went to.",
    ["trigger", "to_level"],
)

UNMATCHED_ROUTE = "unmatched"  # 404s are not labelled by their path (unbounded cardinality)


def observe_rpc(method: str, code: grpc.StatusCode, started: float) -> None:
    """Record one finished RPC; `method` is the full `/package.Service/Method` path."""
    service, _, name = method.lstrip("/").rpartition("/")
    GRPC_HANDLED.labels(service, name, code.name).inc()
    GRPC_HANDLING_SECONDS.labels(service, name).observe(time.perf_counter() - started)


def observe_http(method: str, route: Any, status: int, started: float) -> None:
    """Record one answered HTTP request; `route` is the matched route (FastAPI puts it in the
    ASGI scope as "route"), None when nothing matched."""
    template = getattr(route, "path", None) or UNMATCHED_ROUTE
    HTTP_REQUESTS.labels(method, template, str(status)).inc()
    HTTP_DURATION_SECONDS.labels(method, template).observe(time.perf_counter() - started)


def render_latest() -> tuple[bytes, str]:
    """The current metrics in the Prometheus text format, with its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class MetricsExporter:
    """`/metrics` over HTTP on its own port, in a daemon thread (prometheus-client's server)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        self._server, self._thread = start_http_server(self.port, addr=self.host)
        self.port = int(self._server.server_port)
        log.info("metrics_server_started", host=self.host, port=self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
