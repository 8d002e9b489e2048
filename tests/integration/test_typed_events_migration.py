"""Migrations ticketing 0008 and escalation 0014 convert the JSON event rows written before
(issue #15): after the upgrade every row reads back as its typed event, and a downgrade gives
the documented JSON back."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.db import to_libpq_url
from kefu_common.embedded import drop_database, ensure_database
from kefu_common.migrations import downgrade, upgrade
from kefu_common.ticket_events import to_json

SERVICES = Path(__file__).resolve().parents[2] / "services"
TICKETING = SERVICES / "ticketing" / "kefu_ticketing" / "migrations"
ESCALATION = SERVICES / "escalation" / "kefu_escalation" / "migrations"
AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

TICKET = str(uuid.uuid4())
BODIES = {  # as ticketing wrote them before 0008 (docs/events.md)
    "ticket.created": {
        "ticket_id": TICKET, "number": 7, "version": 1, "status": "new", "customer_id": "C-1",
        "customer_tier": "vip", "customer_sensitive": False, "channel": "phone", "severity": "high",
        "category": "quality", "team": "care", "assignee_id": None,
        "first_contact_at": "2026-12-01T07:59:00.250000+00:00",
        "sla": {"level": "L1", "policy_id": "p2", "policy_version": 1, "policy_name": "VIP", "matrix_version": 3,
                "matrix_tier": "vip", "calendar": "24x7",
                "targets": [{"name": "first_response", "duration_seconds": 1800,
                             "due_at": "2026-12-01T08:29:00.250000+00:00"},
                            {"name": "next_update", "duration_seconds": 7200, "due_at": None}]}},
    "ticket.status_changed": {
        "ticket_id": TICKET, "number": 7, "version": 4, "status": "reopened", "action": "reopened",
        "from_status": "resolved", "to_status": "reopened", "reopen_count": 1, "actor": "a", "reason": "back"},
    "ticket.updated": {
        "ticket_id": TICKET, "number": 7, "version": 2, "status": "open", "actor": "a",
        "changes": {"severity": "critical", "tags": ["tv"]},
        "classification": {"severity": "critical", "customer_tier": "vip", "customer_sensitive": False,
                           "channel": "phone"}},
    "ticket.rated": {
        "ticket_id": TICKET, "number": 7, "version": 3, "status": "resolved", "rating_id": "r", "cycle": 1,
        "revision": 1, "score": 2, "nps": None, "source": "customer", "dissatisfied": True},
}


async def test_event_rows_from_before_the_typed_outbox_are_converted_both_ways(pg_server_url: str) -> None:
    name = f"kefu_test_mig_{uuid.uuid4().hex[:8]}"
    url = await ensure_database(pg_server_url, name)
    try:
        await asyncio.to_thread(upgrade, TICKETING, url, "ticketing", "0006")
        await asyncio.to_thread(upgrade, ESCALATION, url, "escalation", "0011")
        conn = await asyncpg.connect(to_libpq_url(url))
        try:
            for seq, (kind, body) in enumerate(BODIES.items(), 1):
                await conn.execute(
                    "INSERT INTO ticketing.outbox_event (event_id, event_type, ticket_id, payload, occurred_at) "
                    "VALUES ($1, $2, $3, $4::jsonb, $5)", uuid.uuid4(), kind, uuid.UUID(TICKET), json.dumps(body), AT)
                await conn.execute(
                    "INSERT INTO escalation.ticket_event (sequence, event_id, event_type, ticket_id, payload, "
                    "occurred_at, received_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $6)",
                    seq, uuid.uuid4(), kind, uuid.UUID(TICKET), json.dumps(body), AT)
            await asyncio.to_thread(upgrade, TICKETING, url, "ticketing", "0008")
            await asyncio.to_thread(upgrade, ESCALATION, url, "escalation", "0014")

            outbox = await conn.fetch("SELECT event_type, ticket_id, body FROM ticketing.outbox_event ORDER BY sequence")
            for row in outbox:
                event = ticketing_pb2.Event.FromString(row["body"])
                assert not event.ticket_id  # the envelope stays in the columns
                event.ticket_id = str(row["ticket_id"])
                assert to_json(event) == BODIES[row["event_type"]]
            inbox = await conn.fetch("SELECT sequence, event_type, body FROM escalation.ticket_event ORDER BY sequence")
            for row in inbox:
                event = ticketing_pb2.Event.FromString(row["body"])
                assert (event.sequence, event.type, event.ticket_id) == (row["sequence"], row["event_type"], TICKET)
                assert event.occurred_at.ToDatetime(tzinfo=UTC) == AT
                assert to_json(event) == BODIES[row["event_type"]]
            reopened = ticketing_pb2.Event.FromString(inbox[1]["body"]).status_changed
            assert (reopened.action, reopened.reopen_count) == (ticketing_pb2.STATUS_ACTION_REOPENED, 1)

            await asyncio.to_thread(downgrade, TICKETING, url, "ticketing", "0006")
            await asyncio.to_thread(downgrade, ESCALATION, url, "escalation", "0011")
            for table in ("ticketing.outbox_event", "escalation.ticket_event"):
                rows = await conn.fetch(f"SELECT event_type, payload FROM {table} ORDER BY sequence")
                assert [(r["event_type"], json.loads(r["payload"])) for r in rows] == list(BODIES.items())
        finally:
            await conn.close()
    finally:
        await drop_database(pg_server_url, name)
