"""Persisted SLA clocks: inbox rows projected into clock events (real PostgreSQL).

Inbox rows are inserted directly with SQL (escalation_support.Inbox); times are explicit
instants; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from escalation_support import H, OFFICE, T0, Inbox, escalation_database
from kefu_escalation.configuration.calendars import BusinessCalendar
from kefu_escalation.clocks.projector import ClockProjector, calendar_to_spec
from kefu_escalation.clocks.model import Target, TicketClocks



@pytest.fixture(scope="module")
async def db(database_url: str):
    async with escalation_database(database_url) as database:
        yield database


async def test_created_event_opens_cycle_at_first_contact(db) -> None:
    inbox = Inbox(db)
    seq = await inbox.created(T0, occurred_at=T0 + 20 * timedelta(minutes=1))
    assert await inbox.project() == 1

    clocks = await inbox.clocks()
    cycle = clocks.current
    assert cycle is not None and cycle.number == 1 and cycle.opened_at == T0
    assert cycle.started_targets == ("first_response", "resolution")  # next_update: not yet
    assert clocks.due_at("first_response") == T0 + H
    assert clocks.warn_at("first_response") == T0 + 45 * timedelta(minutes=1)  # 75 %
    assert clocks.due_at("resolution") == T0 + 8 * H
    assert await inbox.rows() == [(1, "cycle_opened", None, seq), (1, "started", "first_response", seq),
                                  (1, "started", "resolution", seq)]


async def test_contacts_do_not_touch_persisted_clocks(db) -> None:
    inbox = Inbox(db)
    await inbox.created(T0)
    await inbox.project()
    before, rows = (await inbox.clocks()).snapshot(), await inbox.rows()

    for minutes in (30, 50, 300):  # the customer calls again, and again
        await inbox.contact("inbound", T0 + minutes * timedelta(minutes=1))
    assert await inbox.project() == 3

    assert await inbox.rows() == rows
    assert (await inbox.clocks()).snapshot() == before
    assert (await inbox.clocks()).due_at("first_response") == T0 + H  # from the FIRST contact


async def test_pending_pauses_resolution_in_persisted_clock(db) -> None:
    inbox = Inbox(db)
    await inbox.created(T0)
    await inbox.add("ticket.progress_added", T0 + 10 * timedelta(minutes=1), progress_id="p1", actor="a")
    await inbox.status("pending", T0 + 2 * H)
    await inbox.project()

    paused = await inbox.clocks()
    assert paused.current is not None and paused.current.pending
    assert paused.due_at("resolution") is None  # paused with time left
    assert paused.current.outcome("first_response").result == "met"  # first response was given

    await inbox.status("resumed", T0 + 5 * H)
    await inbox.project()
    resumed = await inbox.clocks()
    assert resumed.due_at("resolution") == T0 + 11 * H  # 8 h + 3 h paused
    kinds = [(k, t) for _, k, t, _ in await inbox.rows()]
    assert ("paused", "resolution") in kinds and ("resumed", "resolution") in kinds


async def test_resolve_stores_outcome(db) -> None:
    inbox = Inbox(db)
    await inbox.created(T0)
    await inbox.contact("outbound", T0 + 20 * timedelta(minutes=1))  # we called back: first response
    resolved = await inbox.status("resolved", T0 + 3 * H)
    await inbox.project()

    cycle = (await inbox.clocks()).current
    assert cycle is not None and not cycle.is_open and cycle.stopped_at == T0 + 3 * H
    assert cycle.outcome("first_response").reason == "satisfied"
    assert cycle.outcome("resolution").result == "met"
    assert cycle.outcome("resolution").margin == 5 * H
    async with db.engine.connect() as conn:
        details = await conn.scalar(
            text("SELECT details FROM escalation.clock_event WHERE ticket_id = :t AND kind = 'stopped' "
                 "AND target IS NULL"), {"t": inbox.ticket})
        source = await conn.scalar(
            text("SELECT source_sequence FROM escalation.clock_event WHERE ticket_id = :t "
                 "AND kind = 'stopped' AND target IS NULL"), {"t": inbox.ticket})
    details = json.loads(details) if isinstance(details, str) else details
    assert details == {"outcomes": {"first_response": "met", "resolution": "met"}}
    assert source == resolved


async def test_reopen_opens_cycle_two_and_keeps_cycle_one(db) -> None:
    inbox = Inbox(db)
    await inbox.created(T0)
    await inbox.status("resolved", T0 + 2 * H)  # first response never given: breached
    await inbox.status("closed", T0 + 3 * H)
    reopened_at = T0 + 24 * H
    await inbox.status("reopened", reopened_at)
    await inbox.contact("inbound", reopened_at)
    await inbox.project()

    clocks = await inbox.clocks()
    one, two = clocks.cycles
    assert not one.is_open and one.outcome("first_response").result == "breached"
    assert one.outcome("first_response").late_by == H
    assert two.number == 2 and two.is_open and two.opened_at == reopened_at
    assert clocks.due_at("first_response") == reopened_at + H  # fresh targets
    assert clocks.due_at("resolution") == reopened_at + 8 * H
    assert {c for c, *_ in await inbox.rows()} == {1, 2}


async def test_projection_is_idempotent_when_run_twice(db) -> None:
    inbox = Inbox(db)
    await inbox.created(T0)
    await inbox.status("pending", T0 + H / 2)
    await inbox.status("resumed", T0 + H)
    assert await inbox.project() == 3
    rows = await inbox.rows()

    assert await inbox.project() == 0  # the cursor moved with the events
    assert await inbox.project(replay=True) == 3  # rows read again from before the first...
    assert await inbox.rows() == rows  # ...but nothing stored twice
    async with db.engine.connect() as conn:
        cursor = await conn.scalar(
            text("SELECT last_sequence FROM escalation.consumer_cursor WHERE name = :n"), {"n": inbox.cursor})
    assert cursor == inbox.first + 2


async def test_a_replica_that_finds_another_projecting_skips_the_batch_instead_of_queueing(db) -> None:
    inbox = Inbox(db)
    await inbox.created(T0)
    assert await inbox.project() == 1  # the cursor now exists
    await inbox.status("pending", T0 + H / 2)
    async with db.session() as other:  # another replica, in the middle of its projection
        await (await other.connection()).execute(
            text("SELECT 1 FROM escalation.consumer_cursor WHERE name = :n FOR UPDATE"), {"n": inbox.cursor})
        assert await asyncio.wait_for(inbox.project(), 5) == 0  # not blocked, nothing read
    assert await inbox.project() == 1  # the lock released: the next pass projects the row
    assert [k for _, k, _, _ in await inbox.rows()][-1] == "paused"


async def test_breach_is_stored_once_even_when_ticked_twice_or_concurrently(db) -> None:
    inbox = Inbox(db)
    start = datetime(2020, 3, 2, 9, 0, tzinfo=UTC)  # earlier than every other test's deadline
    await inbox.created(start)
    await inbox.project()
    now = start + 2 * H  # first response warned (0:45) and breached (1:00)

    async def tick() -> int:
        async with db.session() as session:
            return await ClockProjector().due_ticks(session, now=now)

    assert sum(await asyncio.gather(tick(), tick())) == 2
    assert await tick() == 0
    fired = [(k, t) for _, k, t, _ in await inbox.rows() if k in ("warned", "breached")]
    assert fired == [("warned", "first_response"), ("breached", "first_response")]

    clocks = await inbox.clocks()
    assert clocks.current is not None and clocks.current.fired("first_response") == (True, True)
    breach = next(e for e in clocks.events if e.kind == "breached")
    assert breach.at == start + H  # recorded at its instant, not at the timer's

    # A late first response is still stored as such, after the recorded breach.
    await inbox.contact("outbound", start + 3 * H)
    await inbox.project()
    outcome = (await inbox.clocks()).current.outcome("first_response")
    assert outcome.result == "breached" and outcome.late_by == 2 * H
    assert [(k, t) for _, k, t, _ in await inbox.rows()].count(("breached", "first_response")) == 1


async def test_clocks_survive_a_restart(db) -> None:
    inbox = Inbox(db)
    first_contact = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Mon 10:00 Shanghai
    await inbox.created(first_contact, calendar=OFFICE["name"])
    await inbox.status("pending", first_contact + H)
    await inbox.project(ClockProjector(cursor=inbox.cursor))
    await inbox.status("resumed", first_contact + 30 * H)  # Tue 16:00 Shanghai
    await inbox.contact("outbound", first_contact + 31 * H)

    # "Restart": a new projector object and new sessions over the same rows.
    await inbox.project(ClockProjector(cursor=inbox.cursor))
    persisted = await inbox.clocks()

    office = BusinessCalendar.from_spec(OFFICE)
    assert BusinessCalendar.from_spec(calendar_to_spec(office)) == office
    memory = TicketClocks()
    targets = [Target("first_response", H), Target("resolution", 8 * H, pauses_when_pending=True)]
    for step in (
        lambda c: c.open_cycle(first_contact, targets, office),
        lambda c: c.pause(first_contact + H),
        lambda c: c.resume(first_contact + 30 * H),
        lambda c: c.satisfy("first_response", first_contact + 31 * H),
    ):
        memory = memory.append(step(memory))

    assert persisted.snapshot() == memory.snapshot()
    assert persisted.due_at("resolution") == memory.due_at("resolution")
    assert persisted.current.calendar == office
    async with db.engine.connect() as conn:
        next_deadline = await conn.scalar(
            text("SELECT next_deadline FROM escalation.clock_ticket WHERE ticket_id = :t"),
            {"t": inbox.ticket})
    assert next_deadline == memory.next_deadline()
