"""Service metrics (DOMAIN.md §4), computed in PostgreSQL in one query.

Nothing here loads tickets into Python: one SQL statement aggregates per group and returns at
most one row per group. The definitions below are the product decisions; the SQL follows them
literally.

Period: the half-open interval ``[period_start, period_end)``; both ends time-zone aware,
``period_end > period_start``, at most 366 days long (else ``InvalidArgument`` with code
``invalid_period``).

Resolved in the period
    A ticket is *resolved in the period* when it has at least one ``status_change`` with
    ``to_status = 'resolved'`` and ``at`` in the period. DOMAIN says "closed"; we count the
    resolution, because ``closed`` is only the administrative end of a resolved ticket. A ticket
    resolved several times in the period (resolved, reopened, resolved again) counts once. These
    tickets are the population of every metric up to and including ``closure_rate_72h``.

first_contact_resolved / first_contact_resolution_rate (一次性问题解决率)
    Resolved tickets whose *current* ``reopen_count`` is 0: a ticket resolved in the period and
    reopened later (even after the period) no longer counts. Rate = first_contact_resolved ÷
    resolved_tickets.

proactive_contacts / average_proactive_contacts (平均主动接触频次)
    Inbound (customer-initiated) contacts, at any time, on the resolved tickets, including the
    creating contact (every ticket logs it as an inbound contact with ``initial = true``).
    Outbound contacts (agent callbacks) never count. Average = proactive_contacts ÷
    resolved_tickets (seed: 20 tickets, 23 contacts → 1.15).

repeat_contact_tickets / repeat_contact_ratio (重复主动接触占比)
    Resolved tickets with two or more inbound contacts; ratio = that ÷ resolved_tickets
    (seed: 16 with one, 2 with two, 2 with more → 0.20).

closure_rate_72h
    Share of the resolved tickets whose first resolution *within the period* happened at most
    72 hours after the ticket's ``first_contact_at`` (not ``created_at``: the clock starts at the
    first contact).

created_tickets / first_response_seconds_median / first_response_seconds_p90
    Tickets with ``created_at`` in the period. Median and p90 are ``percentile_cont(0.5)`` and
    ``percentile_cont(0.9)`` (linear interpolation) of ``first_response_at - first_contact_at``
    in seconds, over the created tickets that have a ``first_response_at``.

reopens / reopen_rate
    ``status_change`` rows with ``to_status = 'reopened'`` and ``at`` in the period, of the
    tickets in the group; rate = reopens ÷ resolved_tickets (it can exceed 1).

Rates are 0.0 when their denominator is 0; median and p90 are 0.0 when there is no data.

Grouping
    By the ticket's *current* ``team`` / ``assignee_id`` / ``category`` / ``channel`` (history
    of reassignments is not replayed). A NULL or empty assignee and an empty team are grouped as
    ``"unassigned"``. Ungrouped, the answer is always exactly one row with ``group = ""`` (all
    zeros for an empty period). Grouped, only groups with at least one ticket resolved or
    created in the period appear (a group with only reopens does not). Rows are sorted by group
    (code-point order).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import InvalidArgument

GROUP_BYS = ("team", "agent", "category", "channel")

MAX_PERIOD = timedelta(days=366)

# The SQL expression naming a ticket's group (alias `t`), per group_by. Only these fixed strings
# are ever interpolated into the statement; every value is a bound parameter.
_GROUP_EXPRESSIONS: dict[str | None, str] = {
    None: "''::text",
    "team": "COALESCE(NULLIF(t.team, ''), 'unassigned')",
    "agent": "COALESCE(NULLIF(t.assignee_id, ''), 'unassigned')",
    "category": "t.category::text",
    "channel": "t.channel::text",
}

_SQL = """
WITH resolved AS (
    -- each ticket once, with its first resolution inside the period
    SELECT sc.ticket_id, min(sc.at) AS first_resolved_at
    FROM ticketing.status_change sc
    WHERE sc.to_status = 'resolved' AND sc.at >= :period_start AND sc.at < :period_end
    GROUP BY sc.ticket_id
),
inbound AS (
    SELECT c.ticket_id, count(*) AS contacts
    FROM ticketing.contact c
    JOIN resolved r ON r.ticket_id = c.ticket_id
    WHERE c.direction = 'inbound'
    GROUP BY c.ticket_id
),
resolved_stats AS (
    SELECT {group} AS grp,
           count(*) AS resolved_tickets,
           count(*) FILTER (WHERE t.reopen_count = 0) AS first_contact_resolved,
           COALESCE(sum(i.contacts), 0) AS proactive_contacts,
           count(*) FILTER (WHERE i.contacts >= 2) AS repeat_contact_tickets,
           count(*) FILTER (
               WHERE r.first_resolved_at <= t.first_contact_at + interval '72 hours'
           ) AS closed_within_72h
    FROM resolved r
    JOIN ticketing.ticket t ON t.id = r.ticket_id
    LEFT JOIN inbound i ON i.ticket_id = r.ticket_id
    GROUP BY 1
),
created_stats AS (
    SELECT {group} AS grp,
           count(*) AS created_tickets,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM t.first_response_at - t.first_contact_at)
           ) AS first_response_median,
           percentile_cont(0.9) WITHIN GROUP (
               ORDER BY extract(epoch FROM t.first_response_at - t.first_contact_at)
           ) AS first_response_p90
    FROM ticketing.ticket t
    WHERE t.created_at >= :period_start AND t.created_at < :period_end
    GROUP BY 1
),
reopen_stats AS (
    SELECT {group} AS grp, count(*) AS reopens
    FROM ticketing.status_change sc
    JOIN ticketing.ticket t ON t.id = sc.ticket_id
    WHERE sc.to_status = 'reopened' AND sc.at >= :period_start AND sc.at < :period_end
    GROUP BY 1
),
groups AS (
    SELECT grp FROM resolved_stats
    UNION
    SELECT grp FROM created_stats
    {ungrouped_row}
)
SELECT g.grp AS "group",
       COALESCE(rs.resolved_tickets, 0) AS resolved_tickets,
       COALESCE(rs.first_contact_resolved, 0) AS first_contact_resolved,
       COALESCE(rs.first_contact_resolved::float8 / NULLIF(rs.resolved_tickets, 0), 0)
           AS first_contact_resolution_rate,
       COALESCE(rs.proactive_contacts, 0) AS proactive_contacts,
       COALESCE(rs.proactive_contacts::float8 / NULLIF(rs.resolved_tickets, 0), 0)
           AS average_proactive_contacts,
       COALESCE(rs.repeat_contact_tickets, 0) AS repeat_contact_tickets,
       COALESCE(rs.repeat_contact_tickets::float8 / NULLIF(rs.resolved_tickets, 0), 0)
           AS repeat_contact_ratio,
       COALESCE(rs.closed_within_72h::float8 / NULLIF(rs.resolved_tickets, 0), 0)
           AS closure_rate_72h,
       COALESCE(cs.created_tickets, 0) AS created_tickets,
       COALESCE(cs.first_response_median, 0) AS first_response_seconds_median,
       COALESCE(cs.first_response_p90, 0) AS first_response_seconds_p90,
       COALESCE(ro.reopens, 0) AS reopens,
       COALESCE(ro.reopens::float8 / NULLIF(rs.resolved_tickets, 0), 0) AS reopen_rate
FROM groups g
LEFT JOIN resolved_stats rs ON rs.grp = g.grp
LEFT JOIN created_stats cs ON cs.grp = g.grp
LEFT JOIN reopen_stats ro ON ro.grp = g.grp
ORDER BY g.grp COLLATE "C"
"""


@dataclass(frozen=True)
class MetricsRow:
    group: str  # "" when not grouped
    resolved_tickets: int
    first_contact_resolved: int
    first_contact_resolution_rate: float
    proactive_contacts: int
    average_proactive_contacts: float
    repeat_contact_tickets: int
    repeat_contact_ratio: float
    closure_rate_72h: float
    created_tickets: int
    first_response_seconds_median: float
    first_response_seconds_p90: float
    reopens: int
    reopen_rate: float


def _validate(period_start: datetime, period_end: datetime, group_by: str | None) -> None:
    if period_start.tzinfo is None or period_end.tzinfo is None:
        raise InvalidArgument(
            "period_start and period_end must carry a time zone", code="invalid_period"
        )
    if period_end <= period_start:
        raise InvalidArgument("period_end must be after period_start", code="invalid_period")
    if period_end - period_start > MAX_PERIOD:
        raise InvalidArgument("the period may be at most 366 days long", code="invalid_period")
    if group_by is not None and group_by not in GROUP_BYS:
        raise InvalidArgument(
            f"group_by must be one of {', '.join(GROUP_BYS)}", code="invalid_group_by"
        )


def _row(values: Any) -> MetricsRow:
    return MetricsRow(
        group=str(values.group),
        resolved_tickets=int(values.resolved_tickets),
        first_contact_resolved=int(values.first_contact_resolved),
        first_contact_resolution_rate=float(values.first_contact_resolution_rate),
        proactive_contacts=int(values.proactive_contacts),
        average_proactive_contacts=float(values.average_proactive_contacts),
        repeat_contact_tickets=int(values.repeat_contact_tickets),
        repeat_contact_ratio=float(values.repeat_contact_ratio),
        closure_rate_72h=float(values.closure_rate_72h),
        created_tickets=int(values.created_tickets),
        first_response_seconds_median=float(values.first_response_seconds_median),
        first_response_seconds_p90=float(values.first_response_seconds_p90),
        reopens=int(values.reopens),
        reopen_rate=float(values.reopen_rate),
    )


async def service_metrics(
    session: AsyncSession,
    *,
    period_start: datetime,
    period_end: datetime,
    group_by: str | None,
) -> list[MetricsRow]:
    """The §4 metrics over ``[period_start, period_end)``, one row per group (see module doc)."""
    _validate(period_start, period_end, group_by)
    sql = _SQL.format(
        group=_GROUP_EXPRESSIONS[group_by],
        ungrouped_row="UNION SELECT ''::text" if group_by is None else "",
    )
    conn = await session.connection()
    result = await conn.execute(
        text(sql), {"period_start": period_start, "period_end": period_end}
    )
    return [_row(values) for values in result]
