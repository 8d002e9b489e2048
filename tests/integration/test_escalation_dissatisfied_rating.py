"""A dissatisfied CSAT rating (ticketing's `ticket.rated` with `dissatisfied`) is a signal of
the rated cycle: it escalates once per cycle and proposes reopening the ticket (DOMAIN.md §2
triggers, §4 CSAT). Inbox rows written directly, projected with explicit instants."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from escalation_support import H, T0, Inbox, escalation_database
from kefu_escalation.clocks.projector import ClockProjector
from kefu_escalation.escalations.escalator import Escalator, TriggerSettings
from kefu_escalation.configuration.service import load_calendar


@pytest.fixture(scope="module")
async def db(database_url: str):
    async with escalation_database(database_url) as database:
        yield database


def projector(inbox: Inbox) -> ClockProjector:
    return ClockProjector(cursor=inbox.cursor,
                          escalator=Escalator(TriggerSettings(staff_calendar="24x7"), calendars=load_calendar))


async def escalations(db, inbox: Inbox) -> list:
    async with db.engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT trigger, trigger_key, cycle, from_level, to_level, reason, actor FROM escalation.escalation "
            "WHERE ticket_id = :t ORDER BY created_at"), {"t": inbox.ticket})).all())


async def rated(inbox: Inbox, at, *, score: int, cycle: int = 1, dissatisfied: bool, revision: int = 1) -> None:
    await inbox.add("ticket.rated", at, rating_id="r", cycle=cycle, revision=revision, score=score, nps=None,
                    source="customer", dissatisfied=dissatisfied)


async def test_dissatisfied_rating_of_a_resolved_cycle_escalates_once_and_proposes_a_reopen(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0)
    await inbox.status("opened", T0 + H)
    await inbox.status("resolved", T0 + 2 * H)
    await rated(inbox, T0 + 3 * H, score=1, dissatisfied=True)
    await rated(inbox, T0 + 4 * H, score=2, dissatisfied=True, revision=2)  # changed, still unhappy
    await inbox.project(p)
    await inbox.project(p, replay=True)
    [e] = await escalations(db, inbox)
    assert (e.trigger, e.trigger_key, e.cycle, e.from_level, e.to_level) == (
        "dissatisfied_rating", "dissatisfied_rating", 1, "L0", "L1")
    assert "proposed: reopen" in e.reason and e.actor == "csat:customer"


async def test_satisfied_rating_is_no_signal(db) -> None:
    inbox = Inbox(db)
    await inbox.created(T0)
    await inbox.status("resolved", T0 + H)
    await rated(inbox, T0 + 2 * H, score=4, dissatisfied=False)
    await inbox.project(projector(inbox))
    assert await escalations(db, inbox) == []


async def test_each_cycle_may_be_signalled_once(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0)
    await inbox.status("resolved", T0 + H)
    await rated(inbox, T0 + 2 * H, score=1, dissatisfied=True)
    await inbox.add("ticket.status_changed", T0 + 3 * H, action="reopened", reopen_count=1)
    await inbox.status("resolved", T0 + 4 * H)
    await rated(inbox, T0 + 5 * H, score=1, cycle=2, dissatisfied=True)
    await inbox.project(p)
    found = [(e.trigger, e.cycle) for e in await escalations(db, inbox)]
    assert found == [("dissatisfied_rating", 1), ("dissatisfied_rating", 2)]
