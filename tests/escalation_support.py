"""Shared helpers for the escalation tests: a ticketing inbox written directly with SQL.

Inbox rows are inserted at sequences above everything already stored (the real stream's
sequences are small), each test with its own tickets and projection cursor. Times are
explicit instants; nothing sleeps.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from kefu_common.clock import ManualClock
from kefu_common.db import Database
from kefu_common.ticket_events import from_json
from kefu_escalation.clocks.projector import ClockProjector, load_ticket_clocks
from kefu_escalation.clocks.model import TicketClocks

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
OFFICE = {
    "name": "test-clocks-office",
    "tz": "Asia/Shanghai",
    "weekly": {d: ["09:00-12:00", "13:30-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-11-04"],
    "extra_workdays": {"2026-11-08": ["09:00-18:00"]},
}


def sla(calendar: str = "24x7", first_response: timedelta = H, resolution: timedelta = 8 * H,
        *, level: str = "L0", ack: timedelta = 30 * timedelta(minutes=1),
        next_update: timedelta = 4 * H) -> dict[str, Any]:
    return {
        "level": level, "policy_id": "no-such-policy", "policy_version": 1, "policy_name": "test",
        "matrix_version": 1, "matrix_tier": "standard", "calendar": calendar,
        "targets": [
            {"name": "first_response", "duration_seconds": int(first_response.total_seconds()), "due_at": None},
            {"name": "next_update", "duration_seconds": int(next_update.total_seconds()), "due_at": None},
            {"name": "resolution", "duration_seconds": int(resolution.total_seconds()), "due_at": None},
            {"name": "escalation_ack", "duration_seconds": int(ack.total_seconds()), "due_at": None},
        ],
    }


def inbox_body(event_type: str, body: dict[str, Any]) -> bytes:
    """The typed inbox row of an event given in its documented JSON form (docs/events.md)."""
    return from_json(event_type, json.loads(json.dumps(body, default=str))).SerializeToString()


class Inbox:
    """Writes ticketing events into escalation.ticket_event for one test."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.ticket = uuid.uuid4()
        self.cursor = f"test-clocks-{uuid.uuid4().hex[:8]}"
        self.next: int | None = None
        self.first: int | None = None

    async def add(self, event_type: str, when: datetime, /, **payload: Any) -> int:
        async with self.db.session() as session:
            if self.next is None:
                top = await session.scalar(text("SELECT coalesce(max(sequence), 0) FROM escalation.ticket_event"))
                self.next = self.first = max(int(top), 1_000_000_000) + 1_000
            seq = self.next
            self.next += 1
            body = {"ticket_id": str(self.ticket), "number": 1, "version": seq, "status": "open", **payload}
            await (await session.connection()).execute(
                text("INSERT INTO escalation.ticket_event (sequence, event_id, event_type, ticket_id, "
                     "body, occurred_at, received_at) VALUES (:s, :e, :t, :tid, :p, :at, :at)"),
                {"s": seq, "e": uuid.uuid4(), "t": event_type, "tid": self.ticket,
                 "p": inbox_body(event_type, body), "at": when},
            )
        return seq

    async def created(self, first_contact_at: datetime, *, occurred_at: datetime | None = None,
                      calendar: str = "24x7", team: str = "care", severity: str = "normal",
                      **sla_options: Any) -> int:
        return await self.add("ticket.created", occurred_at or first_contact_at,
                              first_contact_at=first_contact_at.isoformat(), team=team, severity=severity,
                              sla=sla(calendar, **sla_options))

    async def status(self, action: str, at: datetime) -> int:
        return await self.add("ticket.status_changed", at, action=action)

    async def contact(self, direction: str, at: datetime) -> int:
        return await self.add("ticket.contact_logged", at, contact_id=str(uuid.uuid4()),
                              direction=direction, channel="phone", occurred_at=at.isoformat(),
                              proactive=False)

    async def project(self, projector: ClockProjector | None = None, *, replay: bool = False) -> int:
        """Project this test's rows: the first call (or a replay) starts before its first row,
        later ones continue from the cursor."""
        projector = projector or ClockProjector(cursor=self.cursor)
        assert self.first is not None
        async with self.db.session() as session:
            started = await session.scalar(
                text("SELECT 1 FROM escalation.consumer_cursor WHERE name = :n"), {"n": projector.cursor})
            after = self.first - 1 if replay or started is None else None
            return await projector.project(session, after_sequence=after, limit=1000,
                                           clock=ManualClock(T0))

    async def clocks(self) -> TicketClocks:
        async with self.db.session() as session:
            return await load_ticket_clocks(session, self.ticket)

    async def rows(self) -> list[tuple[int, str, str | None, int | None]]:
        async with self.db.engine.connect() as conn:
            result = await conn.execute(
                text("SELECT cycle, kind, target, source_sequence FROM escalation.clock_event "
                     "WHERE ticket_id = :t ORDER BY id"), {"t": self.ticket})
            return [tuple(r) for r in result]



@asynccontextmanager
async def escalation_database(database_url: str) -> AsyncIterator[Database]:
    """The escalation schema's Database, with the OFFICE calendar stored."""
    database = Database(database_url, schema="escalation", pool_size=4)
    async with database.session() as session:
        await (await session.connection()).execute(
            text("INSERT INTO escalation.calendar (name, spec, updated_at) "
                 "VALUES (:n, CAST(:s AS jsonb), now()) ON CONFLICT (name) DO NOTHING"),
            {"n": OFFICE["name"], "s": json.dumps(OFFICE)},
        )
    try:
        yield database
    finally:
        await database.dispose()
