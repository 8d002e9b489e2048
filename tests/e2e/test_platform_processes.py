"""The whole platform as real processes on loopback: the slice, correlation ids, crash safety."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kefu_common.db import to_libpq_url
from kefu_common.devstack import GRPC_SERVICES, Stack

pytestmark = pytest.mark.e2e


def ticket_body() -> dict[str, object]:
    return {
        "customer": {"id": f"C-{uuid.uuid4().hex[:8]}", "name": "Ms Wang", "tier": "vip"},
        "channel": "phone",
        "severity": "critical",
        "category": "quality",
        "subject": "TV caught fire",
    }


def events_with(log_dir: Path, service: str, request_id: str) -> list[dict[str, object]]:
    """JSON log events of `service` carrying `request_id`, waiting briefly for the write."""
    deadline = time.monotonic() + 10
    while True:
        events = [
            event
            for line in (log_dir / f"{service}.log").read_text().splitlines()
            if line.startswith("{") and (event := json.loads(line)).get("request_id") == request_id
        ]
        if events or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def test_every_grpc_service_answers_the_health_check(stack: Stack) -> None:
    for name in GRPC_SERVICES:
        with grpc.insecure_channel(stack.addr(name)) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=f"kefu.{name}.v1.{name.title()}Service"),
                timeout=5,
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, name


def test_ticket_slice_through_gateway_ticketing_escalation_and_postgres(client) -> None:
    created = client.post("/v1/tickets", json=ticket_body())
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["sla"]["level"] == "L3"
    fetched = client.get(f"/v1/tickets/{ticket['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["sla"] == ticket["sla"]


def test_qa_evaluation_slice_reaches_scoring(client) -> None:
    response = client.post(
        "/v1/qa/evaluations", json={"turns": [{"role": "agent", "text": "Calm down, sir."}]}
    )
    assert response.status_code == 201, response.text
    assert response.json()["hits"][0]["matched_text"] == "Calm down"


def test_correlation_id_follows_the_request_into_every_service_log(stack: Stack, client) -> None:
    request_id = f"e2e-{uuid.uuid4().hex}"
    response = client.post("/v1/tickets", json=ticket_body(), headers={"X-Request-ID": request_id})
    assert response.status_code == 201
    assert response.headers["x-request-id"] == request_id
    assert stack.log_dir is not None
    for service in ("gateway", "ticketing", "escalation"):
        events = events_with(stack.log_dir, service, request_id)
        assert events, f"{service} logged nothing with the request id"
        assert all(e["service"] == service for e in events)


def test_killing_ticketing_loses_nothing_committed(stack: Stack, client) -> None:
    created = [client.post("/v1/tickets", json=ticket_body()).json() for _ in range(5)]
    stack.kill("ticketing")
    down = client.get(f"/v1/tickets/{created[0]['id']}")
    assert down.status_code == 503
    assert down.headers["content-type"].startswith("application/problem+json")
    stack.start("ticketing")
    # The gateway's channel reconnects by itself (backoff capped at 1 s).
    deadline = time.monotonic() + 10
    while client.get(f"/v1/tickets/{created[0]['id']}").status_code == 503:
        assert time.monotonic() < deadline, "gateway did not reconnect to ticketing"
        time.sleep(0.1)
    for ticket in created:
        again = client.get(f"/v1/tickets/{ticket['id']}")
        assert again.status_code == 200
        ticket.pop("reopen_candidates")  # in the create answer only
        assert again.json() == ticket


def test_sigterm_stops_a_service_gracefully(stack: Stack) -> None:
    assert stack.stop("scoring") == 0
    stack.start("scoring")
    assert stack.is_ready("scoring")


async def test_escalation_consumes_ticket_events_exactly_once_across_its_crash(
    stack: Stack, client, database_url: str
) -> None:
    created = [client.post("/v1/tickets", json=ticket_body()).json()["id"] for _ in range(3)]
    stack.kill("escalation")  # ticketing keeps working; its events wait in the outbox
    for ticket_id in created:
        response = client.post(
            f"/v1/tickets/{ticket_id}/contacts",
            json={"direction": "inbound", "channel": "phone", "summary": "any news?"},
        )
        assert response.status_code == 201, response.text
    stack.start("escalation")
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        deadline = time.monotonic() + 20
        while True:
            rows = await conn.fetch(
                "SELECT ticket_id::text AS ticket_id, event_type, event_id FROM escalation.ticket_event "
                "WHERE ticket_id = ANY($1::uuid[]) ORDER BY sequence",
                created,
            )
            if len(rows) >= 6 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    assert sorted((r["ticket_id"], r["event_type"]) for r in rows) == sorted(
        [(t, "ticket.created") for t in created] + [(t, "ticket.contact_logged") for t in created]
    )
    assert len({r["event_id"] for r in rows}) == len(rows)


async def test_sla_clock_opens_at_first_contact_and_stops_on_resolve(
    stack: Stack, client, database_url: str
) -> None:
    # Escalation restarted in the test before: a well-behaved client retries its create with the
    # same Idempotency-Key while the platform answers 5xx (bounded), and gets one ticket.
    key, deadline = f"e2e-sla-{uuid.uuid4().hex}", time.monotonic() + 30
    while True:
        created = client.post("/v1/tickets", json=ticket_body(), headers={"Idempotency-Key": key})
        if created.status_code < 500 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert created.status_code == 201, created.text
    ticket = created.json()
    for action in ("open", "resolve"):
        response = client.post(f"/v1/tickets/{ticket['id']}/{action}", json={"reason": "e2e"})
        assert response.status_code == 200, response.text
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        deadline = time.monotonic() + 20
        while True:
            rows = await conn.fetch(
                "SELECT kind, cycle, at FROM escalation.clock_event WHERE ticket_id = $1::uuid "
                "ORDER BY id",
                ticket["id"],
            )
            kinds = [r["kind"] for r in rows]
            if "stopped" in kinds or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    assert kinds[0] == "cycle_opened"
    assert rows[0]["at"].isoformat().replace("+00:00", "Z").startswith(ticket["first_contact_at"][:19])
    assert "stopped" in kinds
    assert {r["cycle"] for r in rows} == {1}
