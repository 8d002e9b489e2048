"""Issue #4 acceptance scenarios through the persisted clocks (inbox -> projection -> timer),
with explicit instants (no sleeping) on real PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from escalation_support import H, OFFICE, T0, Inbox, escalation_database, sla

M = timedelta(minutes=1)
DAY = timedelta(days=1)
BERLIN = {
    "name": "test-berlin-office",
    "tz": "Europe/Berlin",
    "weekly": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [],
    "extra_workdays": {},
}


@pytest.fixture(scope="module")
async def db(database_url: str):
    async with escalation_database(database_url) as database:
        async with database.session() as session:
            await (await session.connection()).execute(
                text("INSERT INTO escalation.calendar (name, spec, updated_at) "
                     "VALUES (:n, CAST(:s AS jsonb), now()) ON CONFLICT (name) DO NOTHING"),
                {"n": BERLIN["name"], "s": json.dumps(BERLIN)})
        yield database


async def test_seed_scenario_three_calls_keep_deadline_from_first_call_and_reopen_opens_fresh_cycle(db) -> None:
    inbox = Inbox(db)
    await inbox.created(T0, first_response=24 * H, resolution=72 * H)
    for hours in (8, 20):  # the customer calls twice more within 20 hours
        await inbox.contact("inbound", T0 + hours * H)
    await inbox.project()
    clocks = await inbox.clocks()
    assert clocks.due_at("first_response") == T0 + 24 * H  # counted from the FIRST call, not extended

    await inbox.contact("outbound", T0 + 23 * H)  # the specialist calls back in time
    await inbox.status("resolved", T0 + 30 * H)
    await inbox.add("ticket.status_changed", T0 + 30 * H + 2 * DAY, action="reopened", reopen_count=1)
    await inbox.project()

    clocks = await inbox.clocks()
    one, two = clocks.cycles
    assert one.outcome("first_response").result == "met" and one.outcome("resolution").result == "met"
    assert one.stopped_at == T0 + 30 * H  # cycle 1 keeps its outcome
    assert two.opened_at == T0 + 30 * H + 2 * DAY
    assert two.due_at("first_response") == two.opened_at + 24 * H  # a fresh 24 hours


async def test_pending_customer_shifts_resolution_deadline_by_exactly_the_paused_business_time(db) -> None:
    inbox = Inbox(db)
    monday_10 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # Mon 10:00 Shanghai
    await inbox.created(monday_10, calendar=OFFICE["name"], resolution=8 * H)
    await inbox.project()
    before = (await inbox.clocks()).due_at("resolution")
    # pending from Mon 11:00 to Mon 15:00 Shanghai: 1 h before lunch + 1.5 h after = 2.5 business hours
    await inbox.status("pending", monday_10 + H)
    await inbox.status("resumed", monday_10 + 5 * H)
    await inbox.project()
    after = (await inbox.clocks()).due_at("resolution")

    cycle = (await inbox.clocks()).current
    assert cycle is not None
    assert cycle.calendar.elapsed(before, after) == 2 * H + 30 * M  # exactly the paused business time
    assert before == datetime(2026, 11, 3, 2, 30, tzinfo=UTC)  # Tue 10:30 Shanghai
    assert after == datetime(2026, 11, 3, 6, 30, tzinfo=UTC)  # Tue 14:30 (lunch 12:00-13:30 skipped)


async def test_deadline_on_a_holiday_moves_to_the_next_business_minute_and_makeup_saturday_counts(db) -> None:
    inbox = Inbox(db)
    tuesday_17 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)  # Tue 17:00 Shanghai; Wed 11-04 is a holiday
    await inbox.created(tuesday_17, calendar=OFFICE["name"], first_response=2 * H)
    await inbox.project()
    # 1 h on Tuesday, Wednesday is a holiday, then Thursday 09:00 + 1 h = Thu 10:00 Shanghai.
    assert (await inbox.clocks()).due_at("first_response") == datetime(2026, 11, 5, 2, 0, tzinfo=UTC)

    friday_17 = Inbox(db)
    await friday_17.created(datetime(2026, 11, 6, 9, 0, tzinfo=UTC), calendar=OFFICE["name"], first_response=2 * H)
    await friday_17.project()
    # 1 h on Friday, then the make-up workday (调休) Sunday 11-08 from 09:00: due 10:00 Shanghai.
    assert (await friday_17.clocks()).due_at("first_response") == datetime(2026, 11, 8, 2, 0, tzinfo=UTC)


async def test_deadline_across_a_dst_change_lands_on_the_right_business_minute(db) -> None:
    inbox = Inbox(db)
    friday_16 = datetime(2026, 10, 23, 14, 0, tzinfo=UTC)  # Fri 16:00 CEST (UTC+2)
    await inbox.created(friday_16, calendar=BERLIN["name"], first_response=2 * H)
    await inbox.project()
    # 1 h on Friday; clocks go back on Sunday 10-25; Monday 09:00 CET (UTC+1) + 1 h = 09:00 UTC.
    assert (await inbox.clocks()).due_at("first_response") == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)


async def test_policy_absolute_warning_threshold_drives_the_persisted_warning(db) -> None:
    from kefu_escalation.models import SlaPolicy

    policy_id = f"abs-warn-{uuid.uuid4().hex[:8]}"
    async with db.session() as session:
        session.add(SlaPolicy(id=policy_id, version=1, name="absolute warning", calendar="24x7",
                              first_response_seconds=3600, next_update_seconds=4 * 3600,
                              resolution_seconds=8 * 3600, escalation_ack_seconds=1800, warning_percent=90,
                              warning_before_seconds=3 * 3600, created_at=T0))
    inbox = Inbox(db)
    body = sla()
    body.update(policy_id=policy_id, policy_version=1)
    await inbox.add("ticket.created", T0, first_contact_at=T0.isoformat(), sla=body)
    await inbox.project()
    clocks = await inbox.clocks()
    assert clocks.warn_at("resolution") == T0 + 5 * H  # 3 h before due beats 90 % (7 h 12 min)
    assert clocks.warn_at("first_response") == T0  # "3 h before" a 1 h target: warn at once
