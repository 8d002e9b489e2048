"""Escalation: SLA due times from the policy's business-hours calendar (real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kefu_common.db import Database
from kefu_common.errors import FailedPrecondition
from kefu_escalation.models import SlaPolicy
from kefu_escalation.configuration.service import calendar_spec, load_calendar, targets_for, upsert_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
async def db(database_url: str):
    database = Database(database_url, schema="escalation", pool_size=2)
    yield database
    await database.dispose()


def policy(calendar: str, *, first_response_h: float, resolution_h: float) -> SlaPolicy:
    return SlaPolicy(
        id="test", version=1, name="test", calendar=calendar,
        first_response_seconds=int(first_response_h * 3600), next_update_seconds=3600,
        resolution_seconds=int(resolution_h * 3600), escalation_ack_seconds=1800,
    )


async def test_due_times_count_business_hours_of_the_policy_calendar(db) -> None:
    # Friday 17:00 in Shanghai: one business hour left that day (until 18:00).
    first_contact = datetime(2026, 11, 20, 17, 0, tzinfo=SHANGHAI)
    async with db.session() as session:
        calendar = await load_calendar(session, "cn-business")
    targets = {t.name: t for t in targets_for(
        policy("cn-business", first_response_h=2, resolution_h=8), first_contact, calendar
    )}
    # 1 h on Friday, then Monday 09:00 + 1 h.
    assert targets["first_response"].due_at == datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
    # 1 h Friday + Monday 09:00-12:00 (3 h) + 13:30-17:30 (4 h) = 8 h.
    assert targets["resolution"].due_at == datetime(2026, 11, 23, 17, 30, tzinfo=SHANGHAI)
    assert targets["next_update"].due_at is None


async def test_24x7_calendar_is_wall_clock_time(db) -> None:
    first_contact = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)  # a Saturday night
    async with db.session() as session:
        calendar = await load_calendar(session, "24x7")
    targets = {t.name: t for t in targets_for(
        policy("24x7", first_response_h=0.5, resolution_h=4), first_contact, calendar
    )}
    assert targets["first_response"].due_at == first_contact + timedelta(minutes=30)
    assert targets["resolution"].due_at == first_contact + timedelta(hours=4)


async def test_policy_naming_an_unknown_calendar_is_a_failed_precondition(db) -> None:
    async with db.session() as session:
        with pytest.raises(FailedPrecondition) as info:
            await load_calendar(session, "mars-business")
    assert info.value.code == "calendar_missing"


async def test_cn_business_knows_2026_holidays_and_make_up_workdays(db) -> None:
    """Issue #14.17: seeded from chinesecalendar (migration 0010)."""
    async with db.session() as session:
        calendar = await load_calendar(session, "cn-business")
    p = policy("cn-business", first_response_h=2, resolution_h=8)
    # Wednesday 2026-09-30 17:00: 1 h, then the National Day week (1-7 Oct, 调休 included) is off.
    before_holiday = {t.name: t for t in targets_for(p, datetime(2026, 9, 30, 17, 0, tzinfo=SHANGHAI), calendar)}
    assert before_holiday["first_response"].due_at == datetime(2026, 10, 8, 10, 0, tzinfo=SHANGHAI)
    # Friday 2026-02-13 17:00: Saturday 14 Feb is a make-up workday (调休).
    before_workday = {t.name: t for t in targets_for(p, datetime(2026, 2, 13, 17, 0, tzinfo=SHANGHAI), calendar)}
    assert before_workday["first_response"].due_at == datetime(2026, 2, 14, 10, 0, tzinfo=SHANGHAI)
    assert date(2026, 10, 1) in calendar.holidays and date(2026, 10, 10) in calendar.extra_workdays


async def test_the_yearly_import_adds_a_year_to_a_calendar(db, database_url: str) -> None:
    from kefu_escalation.configuration.cn_holidays import _import

    name = f"cn-import-{uuid.uuid4().hex[:6]}"
    async with db.session() as session:
        await upsert_calendar(session, calendar_spec(
            name=name, tz="Asia/Shanghai", weekly={d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            holidays=[], extra_workdays={}), now=datetime.now(UTC))
    spec = await _import(name, [2025], database_url)
    assert "2025-10-01" in spec["holidays"] and spec["extra_workdays"]["2025-09-28"] == ["09:00-18:00"]
    async with db.session() as session:
        stored = await load_calendar(session, name)
    assert date(2025, 1, 28) in stored.holidays
