"""Escalation: SLA due times from the policy's business-hours calendar (real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kefu_common.db import Database
from kefu_common.errors import FailedPrecondition
from kefu_escalation.models import SlaPolicy
from kefu_escalation.service import load_calendar, targets_for

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
