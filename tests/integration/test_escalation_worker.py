"""The clock worker loop: woken by NOTIFY for a new earlier deadline, not only by polling.

The worker runs for real (system clock) with a polling interval far longer than the test's
bound, so the breach can only be recorded in time if the NOTIFY woke it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from escalation_support import escalation_database, inbox_body, sla
from kefu_common.clock import SystemClock
from kefu_escalation.clocks.timer import SlaClockWorker
from kefu_escalation.clocks.projector import ClockProjector

POLL_SECONDS = 600.0  # the worker would poll only after ten minutes
BOUND_SECONDS = 30.0  # the breach must be recorded well before that


@pytest.fixture(scope="module")
async def db(database_url: str):
    async with escalation_database(database_url) as database:
        yield database


async def test_a_new_earlier_deadline_from_another_replica_wakes_a_sleeping_worker(db) -> None:
    cursor = f"worker-{uuid.uuid4().hex[:8]}"
    async with db.session() as session:
        conn = await session.connection()
        top = await conn.scalar(text("SELECT coalesce(max(sequence), 0) FROM escalation.ticket_event"))
        start = max(int(top), 1_800_000_000) + 1_000
        for name in (cursor, f"{cursor}-other"):
            await conn.execute(text("INSERT INTO escalation.consumer_cursor (name, last_sequence, updated_at) "
                                    "VALUES (:n, :s, now())"), {"n": name, "s": start})
    # This worker's projection cursor starts after the row below: the other replica projects it.
    worker = SlaClockWorker(db, SystemClock(), interval=POLL_SECONDS,
                            projector=ClockProjector(cursor=cursor))
    await worker.start()
    try:
        await asyncio.sleep(0.5)  # let it finish its first pass and go to sleep
        ticket = uuid.uuid4()
        first_contact = datetime.now(UTC) - timedelta(hours=2)
        async with db.session() as session:  # the event reaches the other replica's inbox first
            await (await session.connection()).execute(
                text("UPDATE escalation.consumer_cursor SET last_sequence = :s WHERE name = :n"),
                {"s": start + 1, "n": cursor})  # (ours will never project it)
            await (await session.connection()).execute(
                text("INSERT INTO escalation.ticket_event (sequence, event_id, event_type, ticket_id, body, "
                     "occurred_at, received_at) VALUES (:s, :e, 'ticket.created', :t, :p, :at, :at)"),
                {"s": start + 1, "e": uuid.uuid4(), "t": ticket, "at": first_contact,
                 "p": inbox_body("ticket.created", {"first_contact_at": first_contact.isoformat(), "sla": sla()})})
        async with db.session() as session:  # the other replica projects it: due clocks + NOTIFY
            await ClockProjector(cursor=f"{cursor}-other").project(session, limit=10, clock=SystemClock())
        recorded = None
        for _ in range(int(BOUND_SECONDS * 10)):
            async with db.engine.connect() as conn:
                recorded = await conn.scalar(text(
                    "SELECT count(*) FROM escalation.clock_event WHERE ticket_id = :t AND kind = 'breached'"),
                    {"t": ticket})
            if recorded:
                break
            await asyncio.sleep(0.1)
        assert recorded == 1
    finally:
        await worker.stop()
