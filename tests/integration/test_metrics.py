"""Prometheus metrics: a scrape shows real RPCs and HTTP requests being counted."""

from __future__ import annotations

import uuid

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
from support import free_port

TICKETING = "kefu.ticketing.v1.TicketingService"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


@pytest.fixture(scope="module")
async def ticketing_with_metrics(database_url: str, escalation_addr: str):
    """A second ticketing server, configured as in Kubernetes with a metrics port."""
    from kefu_ticketing.app import service
    from kefu_ticketing.settings import TicketingSettings

    settings = TicketingSettings(
        grpc_port=0, escalation_addr=escalation_addr, metrics_port=free_port()
    )
    server = await service.create_server(settings, database_url)
    await server.start()
    yield f"127.0.0.1:{server.port}", f"http://127.0.0.1:{settings.metrics_port}/metrics"
    await server.stop()


async def scrape(url: str) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_port_counts_each_rpc_by_method_and_status(ticketing_with_metrics) -> None:
    addr, url = ticketing_with_metrics
    not_found = {"grpc_service": TICKETING, "grpc_method": "GetTicket", "grpc_code": "NOT_FOUND"}
    health_ok = {"grpc_service": "grpc.health.v1.Health", "grpc_method": "Check", "grpc_code": "OK"}
    before = await scrape(url)

    async with grpc.aio.insecure_channel(addr) as channel:
        stub = ticketing_pb2_grpc.TicketingServiceStub(channel)
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetTicket(ticketing_pb2.GetTicketRequest(id=str(uuid.uuid4())))
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())

    after = await scrape(url)
    handled = "grpc_server_handled_total"
    assert sample(after, handled, **not_found) - sample(before, handled, **not_found) == 3
    assert sample(after, handled, **health_ok) - sample(before, handled, **health_ok) >= 1
    count = "grpc_server_handling_seconds_count"
    method = {"grpc_service": TICKETING, "grpc_method": "GetTicket"}
    assert sample(after, count, **method) - sample(before, count, **method) == 3


async def test_metrics_port_closes_when_the_server_stops(database_url, escalation_addr) -> None:
    from kefu_ticketing.app import service
    from kefu_ticketing.settings import TicketingSettings

    port = free_port()
    settings = TicketingSettings(grpc_port=0, escalation_addr=escalation_addr, metrics_port=port)
    server = await service.create_server(settings, database_url)
    await server.start()
    await scrape(f"http://127.0.0.1:{port}/metrics")
    await server.stop()
    with pytest.raises(httpx.ConnectError):
        await scrape(f"http://127.0.0.1:{port}/metrics")


async def test_gateway_metrics_count_requests_by_route_template(gateway, auth) -> None:
    labels = {"method": "GET", "route": "/v1/tickets/{ticket_id}", "status": "404"}
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    before = (await gateway.get("/metrics")).text

    for _ in range(2):
        assert (await gateway.get(f"/v1/tickets/{uuid.uuid4()}", headers=auth)).status_code == 404
    assert (await gateway.get(f"/no/such/{uuid.uuid4()}")).status_code == 404

    response = await gateway.get("/metrics")
    assert response.status_code == 200
    after = response.text
    total = "http_server_requests_total"
    assert sample(after, total, **labels) - sample(before, total, **labels) == 2
    assert sample(after, total, **unmatched) - sample(before, total, **unmatched) == 1
    assert "/no/such" not in after  # unknown paths never become label values


async def test_ticket_creation_moves_the_outbox_sequence_gauge(gateway, auth) -> None:
    body = {
        "customer": {"id": f"C-{uuid.uuid4().hex[:8]}", "tier": "standard"},
        "channel": "phone", "severity": "normal", "category": "quality", "subject": "metrics",
    }
    before = sample((await gateway.get("/metrics")).text, "kefu_ticketing_outbox_last_sequence")
    assert (await gateway.post("/v1/tickets", json=body, headers=auth)).status_code == 201
    after = sample((await gateway.get("/metrics")).text, "kefu_ticketing_outbox_last_sequence")
    assert after > before
