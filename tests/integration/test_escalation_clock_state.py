"""The stored clock state (`clock_ticket.clock_state`, migration 0008) is a cache of the event
history (real PostgreSQL): whoever writes events (projection, timer) writes it in the same
transaction, it always equals the replay of the events, and a ticket without one (stored before
the migration) is replayed once and fires exactly once.

Instants lie in 2019, before every other test's deadline, and every ticket here ends resolved,
so no test's timer pass claims another's tickets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from escalation_support import H, Inbox, escalation_database
from kefu_escalation.clocks.projector import ClockProjector, decode_state, load_ticket_clocks

MIN = timedelta(minutes=1)
START = datetime(2019, 6, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def db(database_url: str):
    async with escalation_database(database_url) as database:
        yield database


async def stored_equals_replay(db, ticket: uuid.UUID) -> None:
    async with db.session() as session:
        row = (await (await session.connection()).execute(text(
            "SELECT CAST(clock_state AS text) AS state, CAST(clock_calendar AS text) AS calendar, next_deadline "
            "FROM escalation.clock_ticket WHERE ticket_id = :t"), {"t": ticket})).one()
        replayed = await load_ticket_clocks(session, ticket)
    stored = decode_state(row.state, row.calendar)
    assert stored is not None
    assert stored.current.snapshot() == replayed.current.snapshot()
    assert stored.last_at == replayed.last_at
    assert stored.next_deadline() == replayed.next_deadline() == row.next_deadline


async def tick(db, at: datetime) -> int:
    async with db.session() as session:
        return await ClockProjector().due_ticks(session, now=at)


async def test_stored_state_equals_the_replay_after_every_projected_and_fired_event(db) -> None:
    inbox = Inbox(db)
    steps = [
        lambda: inbox.created(START),  # cycle_opened, started
        lambda: tick(db, START + 50 * MIN),  # warned (first response, 75 %)
        lambda: inbox.status("pending", START + 55 * MIN),  # paused (resolution)
        lambda: tick(db, START + 2 * H),  # breached (first response keeps running)
        lambda: inbox.status("resumed", START + 3 * H),  # resumed
        lambda: inbox.contact("outbound", START + 3 * H + 10 * MIN),  # first response, late: stopped
        lambda: inbox.status("resolved", START + 4 * H),  # met (resolution), cycle stopped
        lambda: inbox.status("reopened", START + 5 * H),  # reopen: cycle 2
        lambda: inbox.add("ticket.progress_added", START + 5 * H + 5 * MIN, progress_id="p", actor="a"),  # met
        lambda: inbox.status("resolved", START + 6 * H),
    ]
    for step in steps:
        await step()
        await inbox.project()
        await stored_equals_replay(db, inbox.ticket)
    kinds = {k for _, k, _, _ in await inbox.rows()}
    assert kinds == {"cycle_opened", "started", "warned", "paused", "breached", "resumed", "stopped", "met"}


async def test_a_ticket_stored_before_the_snapshot_existed_is_replayed_and_fires_once(db) -> None:
    inbox = Inbox(db)
    start = START + 24 * H
    await inbox.created(start)
    await inbox.project()
    async with db.session() as session:  # as migration 0008 leaves every existing row
        await (await session.connection()).execute(text(
            "UPDATE escalation.clock_ticket SET clock_state = NULL, clock_calendar = NULL WHERE ticket_id = :t"),
            {"t": inbox.ticket})

    assert await tick(db, start + 2 * H) == 2  # warned and breached, from the replayed history
    assert await tick(db, start + 2 * H) == 0
    fired = [(k, t) for _, k, t, _ in await inbox.rows() if k in ("warned", "breached")]
    assert fired == [("warned", "first_response"), ("breached", "first_response")]
    await stored_equals_replay(db, inbox.ticket)  # and the snapshot is there from now on

    await inbox.status("resolved", start + 3 * H)
    await inbox.project()
    await stored_equals_replay(db, inbox.ticket)
