"""Service metrics (DOMAIN.md §4) computed by PostgreSQL over real ticket, status and contact rows.

Isolation: the session database is shared, so every test gets its own window of time far from
"now" (a random 32-day slot between 2001 and ~2098, distinct per test) and puts its tickets in
its own team / category / channel / agent values, reading its own row out of a grouped answer.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from kefu_common.db import Database
from kefu_common.errors import InvalidArgument
from kefu_common.periods import plan as make_plan
from kefu_ticketing.metrics import (
    GROUP_BYS,
    MetricsRow,
    Report,
    TicketFigures,
    service_metrics,
    ticket_series,
)

_SLOT = timedelta(days=32)
_EPOCH = datetime(2001, 1, 1, tzinfo=UTC)
_slots = itertools.count(uuid.uuid4().int % 1000)


@pytest.fixture(scope="module")
async def db(database_url: str):
    database = Database(database_url, schema="ticketing", pool_size=2)
    yield database
    await database.dispose()


@dataclass
class Window:
    start: datetime
    end: datetime
    team: str
    category: str
    channel: str


@pytest.fixture
def window() -> Window:
    """A 30-day period of its own, with a team, category and channel no other test uses."""
    start = _EPOCH + next(_slots) * _SLOT + timedelta(minutes=uuid.uuid4().int % 1000)
    tag = uuid.uuid4().hex[:8]
    return Window(
        start=start,
        end=start + timedelta(days=30),
        team=f"team-{tag}",
        category=f"cat-{tag}",
        channel=f"ch-{tag}",
    )


@dataclass
class T:
    """One ticket to insert, with its contacts and transitions."""

    first_contact_at: datetime
    created_at: datetime | None = None  # defaults to first_contact_at
    first_response_at: datetime | None = None
    inbound: int = 1  # including the initial contact
    outbound: int = 0
    resolved: list[datetime] = field(default_factory=list)
    reopened: list[datetime] = field(default_factory=list)
    closed: list[datetime] = field(default_factory=list)
    reopen_count: int | None = None  # defaults to len(reopened)
    team: str | None = None  # defaults to the window's
    category: str | None = None
    channel: str | None = None
    assignee_id: str | None = None


async def insert(db: Database, w: Window, *tickets: T) -> None:
    async with db.engine.begin() as conn:
        for t in tickets:
            await _insert_one(conn, w, t)


async def _insert_one(conn: AsyncConnection, w: Window, t: T) -> None:
    ticket_id = uuid.uuid4()
    created = t.created_at or t.first_contact_at
    transitions = [(created, "new")] + [(a, "resolved") for a in t.resolved]
    transitions += [(a, "reopened") for a in t.reopened]
    transitions += [(a, "closed") for a in t.closed]
    transitions.sort()
    await conn.execute(
        text(
            """
            INSERT INTO ticketing.ticket (
                id, status, customer_id, customer_tier, channel, severity, category, subject,
                reopen_count, assignee_id, team, first_contact_at, first_response_at,
                resolved_at, closed_at, created_at, updated_at
            ) VALUES (
                :id, :status, :customer, 'standard', :channel, 'normal', :category, 'metrics',
                :reopen_count, :assignee, :team, :first_contact_at, :first_response_at,
                :resolved_at, :closed_at, :created_at, :created_at
            )
            """
        ),
        {
            "id": ticket_id,
            "status": transitions[-1][1],
            "customer": f"C-{uuid.uuid4().hex[:8]}",
            "channel": t.channel if t.channel is not None else w.channel,
            "category": t.category if t.category is not None else w.category,
            "reopen_count": len(t.reopened) if t.reopen_count is None else t.reopen_count,
            "assignee": t.assignee_id,
            "team": t.team if t.team is not None else w.team,
            "first_contact_at": t.first_contact_at,
            "first_response_at": t.first_response_at,
            "resolved_at": max(t.resolved) if t.resolved else None,
            "closed_at": max(t.closed) if t.closed else None,
            "created_at": created,
        },
    )
    previous = None
    for at, status in transitions:
        await conn.execute(
            text(
                "INSERT INTO ticketing.status_change (ticket_id, from_status, to_status, actor, at)"
                " VALUES (:t, :f, :s, 'test', :at)"
            ),
            {"t": ticket_id, "f": previous, "s": status, "at": at},
        )
        previous = status
    contacts = [("inbound", i == 0) for i in range(t.inbound)] + [("outbound", False)] * t.outbound
    for n, (direction, initial) in enumerate(contacts):
        await conn.execute(
            text(
                "INSERT INTO ticketing.contact"
                " (id, ticket_id, direction, channel, occurred_at, initial)"
                " VALUES (:id, :t, :d, 'phone', :at, :initial)"
            ),
            {
                "id": uuid.uuid4(),
                "t": ticket_id,
                "d": direction,
                "at": t.first_contact_at + timedelta(hours=n),
                "initial": initial,
            },
        )


async def metrics(db: Database, w: Window, group_by: str | None) -> list[MetricsRow]:
    async with db.session() as session:
        return await service_metrics(
            session, period_start=w.start, period_end=w.end, group_by=group_by
        )


async def team_row(db: Database, w: Window) -> MetricsRow:
    """This test's row (its own team) of the by-team answer."""
    rows = [r for r in await metrics(db, w, "team") if r.group == w.team]
    assert len(rows) == 1, rows
    return rows[0]


def resolved_ticket(w: Window, *, inbound: int = 1, outbound: int = 0, day: int = 1) -> T:
    opened = w.start + timedelta(days=day)
    return T(
        first_contact_at=opened,
        inbound=inbound,
        outbound=outbound,
        resolved=[opened + timedelta(days=1)],
    )


async def test_first_contact_resolution_is_over_tickets_closed_in_the_period(
    db: Database, window: Window
) -> None:
    # DOMAIN.md §4: closed in the period and never reopened ÷ all closed in the period.
    # 4 closed (1 of them reopened once before closing) + 3 resolved but never closed:
    # 3 / 4 = 0.75 (counting resolutions instead gives 6 / 7 ≈ 0.86, issue #14 item 7).
    h = timedelta(hours=1)
    first = window.start + timedelta(days=1)
    closed = [T(first, resolved=[first + 5 * h], closed=[first + 30 * h]) for _ in range(3)]
    closed.append(T(first, resolved=[first + 5 * h, first + 20 * h], reopened=[first + 10 * h],
                    closed=[first + 30 * h]))
    only_resolved = [T(first, resolved=[first + 5 * h]) for _ in range(3)]
    await insert(db, window, *closed, *only_resolved)

    row = await team_row(db, window)

    assert row.closed_tickets == 4
    assert row.first_contact_resolved == 3
    assert row.first_contact_resolution_rate == pytest.approx(0.75)
    assert row.resolved_tickets == 7  # contacts are still measured on resolved tickets


async def test_72_hour_closure_rate_is_over_closed_tickets_and_zero_when_none_closed(
    db: Database, window: Window
) -> None:
    h = timedelta(hours=1)
    first = window.start + timedelta(days=1)
    await insert(db, window, *(T(first, resolved=[first + 5 * h]) for _ in range(2)))
    row = await team_row(db, window)
    assert (row.resolved_tickets, row.closed_tickets) == (2, 0)
    assert row.closure_rate_72h == 0.0  # nothing closed: nothing closed within 72 h

    await insert(
        db, window,
        T(first, resolved=[first + 5 * h], closed=[first + 72 * h]),  # closed at 72 h: within
        T(first, resolved=[first + 5 * h], closed=[first + 80 * h]),  # resolved early, closed late
    )
    row = await team_row(db, window)
    assert row.closed_tickets == 2
    assert row.closure_rate_72h == pytest.approx(1 / 2)


async def test_seed_20_tickets_with_23_proactive_contacts_average_1_15(
    db: Database, window: Window
) -> None:
    # 18 tickets with one contact, one with two, one with three: 18 + 2 + 3 = 23 contacts.
    tickets = [resolved_ticket(window) for _ in range(18)]
    tickets += [resolved_ticket(window, inbound=2), resolved_ticket(window, inbound=3)]
    await insert(db, window, *tickets)

    row = await team_row(db, window)

    assert row.resolved_tickets == 20
    assert row.proactive_contacts == 23
    assert row.average_proactive_contacts == pytest.approx(23 / 20)
    assert row.average_proactive_contacts == pytest.approx(1.15)
    assert row.repeat_contact_tickets == 2


async def test_seed_16_2_2_tickets_give_20_percent_repeat_contact_ratio(
    db: Database, window: Window
) -> None:
    tickets = [resolved_ticket(window, inbound=1) for _ in range(16)]
    tickets += [resolved_ticket(window, inbound=2) for _ in range(2)]
    tickets += [resolved_ticket(window, inbound=3), resolved_ticket(window, inbound=5)]
    await insert(db, window, *tickets)

    row = await team_row(db, window)

    assert row.resolved_tickets == 20
    assert row.repeat_contact_tickets == 4
    assert row.repeat_contact_ratio == pytest.approx(4 / 20)
    assert row.repeat_contact_ratio == pytest.approx(0.20)
    assert row.proactive_contacts == 16 + 2 * 2 + 3 + 5


async def test_ticket_closed_in_period_and_reopened_later_is_not_first_contact_resolved(
    db: Database, window: Window
) -> None:
    opened = window.start + timedelta(days=1)
    reopened_after_period = T(
        first_contact_at=opened,
        resolved=[opened + timedelta(days=2)],
        closed=[opened + timedelta(days=3)],
        reopened=[window.end + timedelta(days=3)],
    )
    never_reopened = T(first_contact_at=opened, resolved=[opened + timedelta(days=2)],
                       closed=[opened + timedelta(days=3)])
    await insert(db, window, reopened_after_period, never_reopened)

    row = await team_row(db, window)

    assert row.closed_tickets == 2  # still closed in the period
    assert row.resolved_tickets == 2
    assert row.first_contact_resolved == 1
    assert row.first_contact_resolution_rate == pytest.approx(1 / 2)
    assert row.reopens == 0  # the reopen itself is outside the period
    assert row.reopen_rate == 0.0


async def test_outbound_callbacks_are_not_proactive_contacts(db: Database, window: Window) -> None:
    await insert(
        db,
        window,
        resolved_ticket(window, inbound=1, outbound=3),
        resolved_ticket(window, inbound=1, outbound=1),
        resolved_ticket(window, inbound=2, outbound=2),
    )

    row = await team_row(db, window)

    assert row.resolved_tickets == 3
    assert row.proactive_contacts == 1 + 1 + 2
    assert row.average_proactive_contacts == pytest.approx(4 / 3)
    assert row.repeat_contact_tickets == 1  # only the one with two inbound contacts
    assert row.repeat_contact_ratio == pytest.approx(1 / 3)


async def test_resolution_outside_the_period_is_not_counted(db: Database, window: Window) -> None:
    before = T(
        first_contact_at=window.start - timedelta(days=10),
        resolved=[window.start - timedelta(seconds=1)],
    )
    at_start = T(first_contact_at=window.start - timedelta(days=5), resolved=[window.start])
    at_end = T(first_contact_at=window.start - timedelta(days=2), resolved=[window.end])
    await insert(db, window, before, at_start, at_end)

    row = await team_row(db, window)

    assert row.resolved_tickets == 1  # [start, end): the start is in, the end is out
    assert row.closed_tickets == 0
    assert row.proactive_contacts == 1
    assert row.created_tickets == 0


async def test_ticket_resolved_twice_in_period_counts_once(db: Database, window: Window) -> None:
    opened = window.start + timedelta(days=1)
    twice = T(
        first_contact_at=opened,
        inbound=2,
        resolved=[opened + timedelta(days=1), opened + timedelta(days=3)],
        reopened=[opened + timedelta(days=2)],
    )
    await insert(db, window, twice)

    row = await team_row(db, window)

    assert row.resolved_tickets == 1
    assert row.first_contact_resolved == 0
    assert row.first_contact_resolution_rate == 0.0
    assert row.proactive_contacts == 2  # its contacts are counted once, not once per resolution
    assert row.average_proactive_contacts == pytest.approx(2.0)
    assert row.reopens == 1
    assert row.reopen_rate == pytest.approx(1.0)


async def test_72_hour_closure_counts_closing_from_first_contact(db: Database, window: Window) -> None:
    first = window.start + timedelta(days=1)
    h = timedelta(hours=1)
    # created two days after the first contact: 80 h from the contact, only 32 h from creation
    late_created = T(first_contact_at=first, created_at=first + 48 * h,
                     resolved=[first + 79 * h], closed=[first + 80 * h])
    exactly_72h = T(first_contact_at=first, resolved=[first + 71 * h], closed=[first + 72 * h])
    # resolved within 72 h, but closed one second late: closure is what counts
    just_over = T(first_contact_at=first, resolved=[first + 70 * h],
                  closed=[first + 72 * h + timedelta(seconds=1)])
    # the first closure in the period counts, not the last one
    closed_early_then_again = T(
        first_contact_at=first,
        resolved=[first + 9 * h, first + 99 * h],
        closed=[first + 10 * h, first + 100 * h],
        reopened=[first + 20 * h],
    )
    await insert(db, window, late_created, exactly_72h, just_over, closed_early_then_again)

    row = await team_row(db, window)

    assert row.closed_tickets == 4
    assert row.closure_rate_72h == pytest.approx(2 / 4)


async def test_first_response_median_and_p90(db: Database, window: Window) -> None:
    first = window.start + timedelta(days=2)
    s = timedelta(seconds=1)
    tickets = [
        T(first_contact_at=first, first_response_at=first + seconds * s)
        for seconds in (60, 240, 120, 180)
    ]
    # the clock starts at the first contact: 600 s, although only 100 s after creation
    tickets.append(
        T(first_contact_at=first, created_at=first + 500 * s, first_response_at=first + 600 * s)
    )
    tickets.append(T(first_contact_at=first))  # no first response yet: created, not measured
    # created before the period: not in the population at all
    tickets.append(
        T(
            first_contact_at=window.start - timedelta(days=1),
            first_response_at=window.start + 10_000 * s,
        )
    )
    await insert(db, window, *tickets)

    row = await team_row(db, window)

    assert row.created_tickets == 6
    # sorted 60, 120, 180, 240, 600; percentile_cont interpolates at (n - 1) * p
    assert row.first_response_seconds_median == pytest.approx(180.0)
    assert row.first_response_seconds_p90 == pytest.approx(240 + 0.6 * (600 - 240))  # 456
    assert row.resolved_tickets == 0
    assert row.first_contact_resolution_rate == 0.0


async def test_metrics_grouped_by_team_agent_category_channel(db: Database, window: Window) -> None:
    tag = uuid.uuid4().hex[:8]
    team_a, team_b, team_c = f"a-{tag}", f"b-{tag}", f"c-{tag}"
    cat_x, cat_y = f"x-{tag}", f"y-{tag}"
    ch_p, ch_q = f"p-{tag}", f"q-{tag}"
    agent_1, agent_2 = f"ag1-{tag}", f"ag2-{tag}"
    first = window.start + timedelta(days=1)
    resolved_at = [first + timedelta(hours=5)]
    closed_at = [first + timedelta(hours=6)]
    s = timedelta(seconds=1)
    await insert(
        db,
        window,
        # team a, agent 1, x, p: resolved, two contacts, reopened later (not FCR)
        T(first, team=team_a, assignee_id=agent_1, category=cat_x, channel=ch_p, inbound=2,
          resolved=resolved_at, closed=closed_at, reopen_count=1, first_response_at=first + 100 * s),
        # team a, agent 2, y, p: resolved (and closed) first time
        T(first, team=team_a, assignee_id=agent_2, category=cat_y, channel=ch_p,
          resolved=resolved_at, closed=closed_at, first_response_at=first + 300 * s),
        # team b, no assignee, x, q: created only
        T(first, team=team_b, assignee_id=None, category=cat_x, channel=ch_q,
          first_response_at=first + 50 * s),
        # no team, empty assignee, y, q: resolved first time
        T(first, team="", assignee_id="", category=cat_y, channel=ch_q, resolved=resolved_at,
          closed=closed_at),
        # team c: created and resolved long before, only reopened in the period -> no row
        T(window.start - timedelta(days=40), team=team_c, assignee_id=agent_1, category=cat_x,
          channel=ch_p, resolved=[window.start - timedelta(days=39)],
          reopened=[first + timedelta(days=1)]),
    )

    def mine(rows: list[MetricsRow], groups: set[str]) -> dict[str, MetricsRow]:
        picked = [r for r in rows if r.group in groups]
        assert [r.group for r in picked] == sorted(r.group for r in picked)  # sorted by group
        return {r.group: r for r in picked}

    by_team = mine(await metrics(db, window, "team"), {team_a, team_b, team_c, "unassigned"})
    assert set(by_team) == {team_a, team_b, "unassigned"}  # team c had only a reopen
    assert (by_team[team_a].resolved_tickets, by_team[team_a].first_contact_resolved) == (2, 1)
    assert by_team[team_a].first_contact_resolution_rate == pytest.approx(0.5)
    assert by_team[team_a].proactive_contacts == 3
    assert by_team[team_a].average_proactive_contacts == pytest.approx(1.5)
    assert by_team[team_a].repeat_contact_ratio == pytest.approx(0.5)
    assert by_team[team_a].created_tickets == 2
    assert by_team[team_a].first_response_seconds_median == pytest.approx(200.0)
    assert by_team[team_a].first_response_seconds_p90 == pytest.approx(100 + 0.9 * 200)
    assert by_team[team_a].closure_rate_72h == pytest.approx(1.0)
    assert (by_team[team_b].resolved_tickets, by_team[team_b].created_tickets) == (0, 1)
    assert by_team[team_b].first_response_seconds_median == pytest.approx(50.0)
    assert by_team[team_b].first_contact_resolution_rate == 0.0
    assert (by_team["unassigned"].resolved_tickets, by_team["unassigned"].created_tickets) == (1, 1)
    assert by_team["unassigned"].first_response_seconds_median == 0.0  # no response yet

    by_agent = mine(await metrics(db, window, "agent"), {agent_1, agent_2, "unassigned"})
    assert set(by_agent) == {agent_1, agent_2, "unassigned"}
    assert (by_agent[agent_1].resolved_tickets, by_agent[agent_1].first_contact_resolved) == (1, 0)
    assert by_agent[agent_1].reopens == 1  # team c's reopen: its agent is in the group anyway
    assert by_agent[agent_1].reopen_rate == pytest.approx(1.0)
    assert (by_agent[agent_2].resolved_tickets, by_agent[agent_2].first_contact_resolved) == (1, 1)
    # NULL and '' assignee both land in "unassigned"
    unassigned = by_agent["unassigned"]
    assert (unassigned.resolved_tickets, unassigned.created_tickets) == (1, 2)

    by_category = mine(await metrics(db, window, "category"), {cat_x, cat_y})
    assert (by_category[cat_x].resolved_tickets, by_category[cat_x].created_tickets) == (1, 2)
    assert by_category[cat_x].reopens == 1
    assert by_category[cat_y].resolved_tickets == 2
    assert by_category[cat_y].first_contact_resolved == 2
    assert by_category[cat_y].first_contact_resolution_rate == pytest.approx(1.0)

    by_channel = mine(await metrics(db, window, "channel"), {ch_p, ch_q})
    assert (by_channel[ch_p].resolved_tickets, by_channel[ch_p].first_contact_resolved) == (2, 1)
    assert by_channel[ch_p].proactive_contacts == 3
    assert by_channel[ch_p].reopens == 1
    assert (by_channel[ch_q].resolved_tickets, by_channel[ch_q].created_tickets) == (1, 2)
    assert by_channel[ch_q].first_response_seconds_median == pytest.approx(50.0)

    # ungrouped: one row over everything in this (otherwise empty) window
    [total] = await metrics(db, window, None)
    assert total.group == ""
    assert (total.resolved_tickets, total.first_contact_resolved) == (3, 2)
    assert total.created_tickets == 4
    assert total.proactive_contacts == 4
    assert total.repeat_contact_tickets == 1
    assert total.reopens == 1
    assert total.reopen_rate == pytest.approx(1 / 3)
    assert total.first_response_seconds_median == pytest.approx(100.0)  # 50, 100, 300


async def test_empty_period_gives_zero_rates_not_errors(db: Database, window: Window) -> None:
    # a reopen in the period but nothing resolved or created: every rate's denominator is 0
    await insert(
        db,
        window,
        T(window.start - timedelta(days=40), resolved=[window.start - timedelta(days=39)],
          reopened=[window.start + timedelta(days=1)]),
    )

    assert await metrics(db, window, None) == [
        MetricsRow(
            group="",
            resolved_tickets=0,
            first_contact_resolved=0,
            first_contact_resolution_rate=0.0,
            proactive_contacts=0,
            average_proactive_contacts=0.0,
            repeat_contact_tickets=0,
            repeat_contact_ratio=0.0,
            closure_rate_72h=0.0,
            created_tickets=0,
            first_response_seconds_median=0.0,
            first_response_seconds_p90=0.0,
            reopens=1,
            reopen_rate=0.0,
            closed_tickets=0,
        )
    ]
    for group_by in GROUP_BYS:
        assert await metrics(db, window, group_by) == []


async def test_invalid_period_and_group_by_are_rejected(db: Database, window: Window) -> None:
    start = window.start

    async def call(
        end: datetime, group_by: str | None = None, begin: datetime = start
    ) -> list[MetricsRow]:
        async with db.session() as session:
            return await service_metrics(
                session, period_start=begin, period_end=end, group_by=group_by
            )

    for end in (start, start - timedelta(seconds=1), start + timedelta(days=366, seconds=1)):
        with pytest.raises(InvalidArgument) as err:
            await call(end)
        assert err.value.code == "invalid_period"
    with pytest.raises(InvalidArgument) as err:
        await call(start.replace(tzinfo=None) + timedelta(days=1), begin=start.replace(tzinfo=None))
    assert err.value.code == "invalid_period"
    for group_by in ("customer", "", "Team"):
        with pytest.raises(InvalidArgument) as err:
            await call(start + timedelta(days=1), group_by)
        assert err.value.code == "invalid_group_by"

    # the limits themselves are accepted
    assert len(await call(start + timedelta(days=366))) == 1
    assert isinstance(await call(start + timedelta(microseconds=1), "team"), list)


# --- series over buckets (issue #12): kefu_common.periods spans, hand-computed figures ------


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def series(db: Database, p, report: Report, team: str) -> dict[tuple[int, bool], TicketFigures]:
    async with db.session() as session:
        rows = await ticket_series(session, p, report=report, group_by="team")
    return {(r.bucket, r.previous): r for r in rows if r.group == team}


async def test_week_buckets_cross_a_month_and_count_in_the_local_week(db: Database, window: Window) -> None:
    # Asia/Shanghai weeks over [2026-11-25, 2026-12-10): 11-25..11-30 (clipped), 11-30..12-07,
    # 12-07..12-10 (clipped). 2026-11-29T16:30Z is Monday 00:30 in Shanghai (still Sunday in UTC).
    p = make_plan(date(2026, 11, 25), date(2026, 12, 10), tz="Asia/Shanghai", unit="week")
    h = timedelta(hours=1)
    fc = _utc(2026, 11, 20, 2)
    await insert(
        db, window,
        T(fc, resolved=[_utc(2026, 11, 26, 1)], closed=[_utc(2026, 11, 29, 15, 59)]),  # Sun 23:59 local
        T(fc, resolved=[_utc(2026, 11, 29, 16, 30)], closed=[_utc(2026, 11, 29, 16, 30) + h]),  # Mon
        T(fc, resolved=[_utc(2026, 12, 3)], closed=[_utc(2026, 12, 4)], reopen_count=1),
        T(fc, resolved=[_utc(2026, 11, 22)], closed=[_utc(2026, 11, 23)]),  # previous of bucket 0
        T(fc, resolved=[_utc(2026, 12, 9, 15, 59)]),  # 12-09 23:59 local: last bucket
        T(fc, resolved=[_utc(2026, 12, 9, 16, 0)]),  # 12-10 00:00 local: outside the range
    )

    got = await series(db, p, Report.SERVICE_METRICS, window.team)

    assert (got[(0, False)].closed_tickets, got[(0, False)].resolved_tickets) == (1, 1)
    assert (got[(1, False)].closed_tickets, got[(1, False)].resolved_tickets) == (2, 2)
    assert got[(1, False)].first_contact_resolved == 1
    assert got[(1, False)].first_contact_resolution_rate == pytest.approx(0.5)
    assert (got[(2, False)].closed_tickets, got[(2, False)].resolved_tickets) == (0, 1)
    assert got[(2, False)].first_contact_resolution_rate is None  # nothing closed: no rate
    # previous of the clipped first bucket: 11-20..11-25 (5 days before) holds the 11-22/23 ticket
    assert (got[(0, True)].closed_tickets, got[(0, True)].resolved_tickets) == (1, 1)
    # previous of the whole week 11-30..12-07 is 11-23..11-30 local: the 11-23 and 11-29 closes,
    # the 11-26 resolution
    prev1 = got[(1, True)]
    assert (prev1.closed_tickets, prev1.resolved_tickets) == (2, 1)


async def test_day_buckets_follow_the_callers_dst_zone(db: Database, window: Window) -> None:
    # Europe/Berlin, 2026-03-29 is a 23-hour day starting 2026-03-28T23:00Z.
    p = make_plan(date(2026, 3, 28), date(2026, 3, 31), tz="Europe/Berlin", unit="day")
    fc = _utc(2026, 3, 20)
    await insert(
        db, window,
        T(fc, resolved=[_utc(2026, 3, 28, 22, 59)]),  # 23:59 CET on the 28th
        T(fc, resolved=[_utc(2026, 3, 28, 23, 0)]),  # 00:00 on the 29th
        T(fc, resolved=[_utc(2026, 3, 29, 21, 59)]),  # 23:59 CEST on the 29th
        T(fc, resolved=[_utc(2026, 3, 29, 22, 0)]),  # 00:00 on the 30th
    )
    got = await series(db, p, Report.FLOW, window.team)
    assert [got[(i, False)].resolved_tickets if (i, False) in got else 0 for i in range(3)] == [1, 2, 1]


async def test_month_bucket_previous_is_the_calendar_month_before(db: Database, window: Window) -> None:
    p = make_plan(date(2026, 3, 1), date(2026, 4, 1), tz="Asia/Shanghai", unit="month")
    fc = _utc(2026, 1, 10)
    await insert(
        db, window,
        T(fc, resolved=[_utc(2026, 1, 31, 16)]),  # 02-01 00:00 local: February
        T(fc, resolved=[_utc(2026, 2, 28, 15, 59)]),  # 02-28 23:59 local: February
        T(fc, resolved=[_utc(2026, 2, 28, 16)]),  # 03-01 00:00 local: March
    )
    got = await series(db, p, Report.FLOW, window.team)
    assert got[(0, False)].resolved_tickets == 1
    assert got[(0, True)].resolved_tickets == 2  # all of February, 28 days


async def test_resolution_time_median_and_p90_per_bucket(db: Database, window: Window) -> None:
    p = make_plan(date(2026, 6, 1), date(2026, 6, 3), tz="Asia/Shanghai", unit="day", compare="none")
    fc = _utc(2026, 5, 31, 16)  # 06-01 00:00 local
    h = timedelta(hours=1)
    await insert(db, window, *(T(fc, resolved=[fc + n * h]) for n in (1, 2, 3, 4, 10)),
                 T(fc, resolved=[fc + 30 * h]))  # 06-02 06:00 local: second bucket
    got = await series(db, p, Report.RESOLUTION_TIME, window.team)
    day1 = got[(0, False)]
    assert day1.resolved_tickets == 5
    assert day1.resolution_seconds_median == pytest.approx(3 * 3600)
    assert day1.resolution_seconds_p90 == pytest.approx((4 + 0.6 * 6) * 3600)  # 1,2,3,4,10 h
    assert got[(1, False)].resolution_seconds_median == pytest.approx(30 * 3600)
    assert (0, True) not in got  # compare=none


async def test_bucket_boundaries_agree_with_postgres_date_trunc(db: Database) -> None:
    # The contract: SQL's date_trunc(unit, ts AT TIME ZONE tz) and kefu_common.periods agree.
    for tz, unit in (("Asia/Shanghai", "week"), ("Europe/Berlin", "day"), ("America/New_York", "month")):
        p = make_plan(date(2026, 2, 25), date(2026, 11, 10), tz=tz, unit=unit, compare="none")
        instants = [_utc(2026, 2, 25) + timedelta(hours=7 * k + 3) for k in range(0, 8000, 13)]
        async with db.engine.connect() as conn:
            result = await conn.execute(
                text(
                    "SELECT ts, GREATEST(date_trunc(:unit, ts AT TIME ZONE :tz)::date, :start) AS b "
                    "FROM unnest(CAST(:ts AS timestamptz[])) AS ts"
                ),
                {"unit": unit, "tz": tz, "ts": instants, "start": p.start},
            )
            for ts, bucket_start in result:
                lo_hi = [(b.span.start, *b.span.utc(p.tz)) for b in p.buckets]
                mine = [s for s, lo, hi in lo_hi if lo <= ts < hi]
                if mine:
                    assert mine == [bucket_start], (tz, unit, ts)


async def test_ungrouped_flow_counts_each_ticket_once_per_bucket(db: Database, window: Window) -> None:
    # A year no other test writes to; ungrouped flow reads the status changes alone.
    p = make_plan(date(2150, 3, 2), date(2150, 3, 4), tz="Asia/Shanghai", unit="day")
    fc = _utc(2150, 3, 1, 16)  # 03-02 00:00 local
    h = timedelta(hours=1)
    await insert(
        db, window,
        T(fc, resolved=[fc + h, fc + 3 * h], reopened=[fc + 2 * h], closed=[fc + 4 * h]),
        T(fc, resolved=[fc + 25 * h]),  # 03-03 local
        T(fc - 24 * h, resolved=[fc - 2 * h]),  # 03-01 local: the previous of the first day
    )
    async with db.session() as session:
        rows = {(r.bucket, r.previous): r for r in
                await ticket_series(session, p, report=Report.FLOW, group_by=None)}
    day1, day2, before = rows[(0, False)], rows[(1, False)], rows[(0, True)]
    assert (day1.resolved_tickets, day1.closed_tickets, day1.reopens, day1.created_tickets) == (1, 1, 1, 2)
    assert (day2.resolved_tickets, day2.closed_tickets) == (1, 0)
    assert (before.resolved_tickets, before.created_tickets) == (1, 1)
