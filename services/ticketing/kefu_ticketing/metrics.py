"""Ticket metrics (DOMAIN.md §4) over spans of time, computed in PostgreSQL in one statement.

Nothing here loads tickets into Python: one SQL statement aggregates per (span, group) and
returns at most one row per pair. The spans are those of a report's plan
(`kefu_common.periods`: each bucket and its previous span, as UTC instants) or the single
span of the legacy `GetServiceMetrics` period. The definitions below are the product
decisions; the SQL follows them literally. A span is half-open, ``[lo, hi)``.

Closed in the span
    A ticket with at least one ``status_change`` to ``closed`` in the span (counted once; its
    first closure in the span is its closing instant).

first_contact_resolved / first_contact_resolution_rate (一次性问题解决率)
    DOMAIN.md §4: tickets closed in the span that were never reopened (*current*
    ``reopen_count`` = 0: a ticket reopened later, even after the span, no longer counts)
    ÷ all tickets closed in the span.

closed_within_72h / closure_rate_72h
    Tickets closed in the span whose closing instant is at most 72 hours after the ticket's
    ``first_contact_at`` (the clock starts at the first contact) ÷ tickets closed in the span.

Resolved in the span
    A ticket with at least one ``status_change`` to ``resolved`` in the span (counted once; its
    first resolution in the span is its resolving instant). These are the population of:

proactive_contacts / average_proactive_contacts (平均主动接触频次)
    Inbound (customer-initiated) contacts, at any time, on the resolved tickets, including the
    creating contact (every ticket logs one with ``initial = true``). Outbound contacts (agent
    callbacks) never count. Average = proactive_contacts ÷ resolved_tickets (seed: 20 tickets,
    23 contacts → 1.15).

repeat_contact_tickets / repeat_contact_ratio (重复主动接触占比)
    Resolved tickets with two or more inbound contacts ÷ resolved_tickets (seed: 16 with one,
    2 with two, 2 with more → 0.20).

resolution_seconds_median / _p90
    ``percentile_cont`` of (resolving instant − ``first_contact_at``) in calendar seconds over
    the resolved tickets.

created_tickets / first_response_seconds_median / _p90
    Tickets with ``created_at`` in the span; ``percentile_cont(0.5)`` / ``(0.9)`` (linear
    interpolation) of ``first_response_at − first_contact_at`` in seconds, over the created
    tickets that have a ``first_response_at``.

reopens / reopen_rate
    ``status_change`` rows to ``reopened`` in the span, of the tickets in the group; rate =
    reopens ÷ resolved_tickets (it can exceed 1).

Ratios and percentiles are ``None`` when their population is empty (the legacy single-period
RPC answers 0.0 there, as it always did).

Grouping
    By the ticket's *current* ``team`` / ``assignee_id`` / ``category`` / ``channel`` (history
    of reassignments is not replayed). A NULL or empty assignee and an empty team are grouped as
    ``"unassigned"``. A (span, group) appears when the group had a ticket closed, resolved or
    created in the span (a group with only reopens does not).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import InvalidArgument
from kefu_common.periods import REPORT_SETTINGS, SPANS_SQL, Plan, in_spans, instant_params

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


class Report(enum.StrEnum):
    """Which figures a caller needs: each computes only its own parts of the statement."""

    SERVICE_METRICS = "service_metrics"
    RESOLUTION_TIME = "resolution_time"
    FLOW = "flow"  # created vs resolved (and closed, reopened) per bucket


_FIRST_IN_SPAN = """
{name} AS (
    SELECT s.idx, s.prev, sc.ticket_id, min(sc.at) AS at
    FROM ticketing.status_change sc JOIN s ON @ON0@
    WHERE sc.to_status = '{status}'
    GROUP BY 1, 2, 3
)""".replace("@ON0@", in_spans("sc.at"))

_CLOSED_STATS = """
closed_stats AS (
    SELECT c.idx, c.prev, {group} AS grp,
           count(*) AS closed_tickets,
           count(*) FILTER (WHERE t.reopen_count = 0) AS first_contact_resolved,
           count(*) FILTER (WHERE c.at <= t.first_contact_at + interval '72 hours')
               AS closed_within_72h
    FROM closed c JOIN ticketing.ticket t ON t.id = c.ticket_id
    GROUP BY 1, 2, 3
)"""

_RESOLVED_STATS = """
resolved_stats AS (
    SELECT r.idx, r.prev, {group} AS grp,
           count(*) AS resolved_tickets,
           {contacts}
           {resolution}
    FROM resolved r JOIN ticketing.ticket t ON t.id = r.ticket_id
    {contacts_join}
    GROUP BY 1, 2, 3
)"""

_CONTACTS = """COALESCE(sum(i.n), 0) AS proactive_contacts,
           count(*) FILTER (WHERE i.n >= 2) AS repeat_contact_tickets,"""
_NO_CONTACTS = "0::bigint AS proactive_contacts, 0::bigint AS repeat_contact_tickets,"
_CONTACTS_JOIN = """LEFT JOIN LATERAL (
        SELECT count(*) AS n FROM ticketing.contact c
        WHERE c.ticket_id = r.ticket_id AND c.direction = 'inbound'
    ) i ON true"""
_RESOLUTION = """percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM r.at - t.first_contact_at)) AS resolution_median,
           percentile_cont(0.9) WITHIN GROUP (
               ORDER BY extract(epoch FROM r.at - t.first_contact_at)) AS resolution_p90"""
_NO_RESOLUTION = "NULL::float8 AS resolution_median, NULL::float8 AS resolution_p90"

_CREATED_STATS = """
created_stats AS (
    SELECT s.idx, s.prev, {group} AS grp,
           count(*) AS created_tickets,
           {first_response}
    FROM ticketing.ticket t JOIN s ON @ON0@
    GROUP BY 1, 2, 3
)""".replace("@ON0@", in_spans("t.created_at"))
_FIRST_RESPONSE = """percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM t.first_response_at - t.first_contact_at))
               AS first_response_median,
           percentile_cont(0.9) WITHIN GROUP (
               ORDER BY extract(epoch FROM t.first_response_at - t.first_contact_at))
               AS first_response_p90"""
_NO_FIRST_RESPONSE = "NULL::float8 AS first_response_median, NULL::float8 AS first_response_p90"

_REOPEN_STATS = """
reopen_stats AS (
    SELECT s.idx, s.prev, {group} AS grp, count(*) AS reopens
    FROM ticketing.status_change sc JOIN s ON @ON0@
    JOIN ticketing.ticket t ON t.id = sc.ticket_id
    WHERE sc.to_status = 'reopened'
    GROUP BY 1, 2, 3
)""".replace("@ON0@", in_spans("sc.at"))

_COLUMNS = {
    "closed_stats": ("closed_tickets", "first_contact_resolved", "closed_within_72h"),
    "resolved_stats": (
        "resolved_tickets", "proactive_contacts", "repeat_contact_tickets",
        "resolution_median", "resolution_p90",
    ),
    "created_stats": ("created_tickets", "first_response_median", "first_response_p90"),
    "reopen_stats": ("reopens",),
}
_KEYED = ("closed_stats", "resolved_stats", "created_stats")  # those that make a row appear


def group_expression(group_by: str | None) -> str:
    """The SQL naming the group of ticket `t`; unknown group_by → InvalidArgument."""
    _check_group_by(group_by)
    return _GROUP_EXPRESSIONS[group_by]


# Ungrouped created-vs-resolved needs no ticket column: counts straight from the status changes.
_COUNTS_ONLY = {
    "closed_stats": """
closed_stats AS (
    SELECT idx, prev, ''::text AS grp, count(*) AS closed_tickets,
           0::bigint AS first_contact_resolved, 0::bigint AS closed_within_72h
    FROM closed GROUP BY 1, 2, 3
)""",
    "resolved_stats": """
resolved_stats AS (
    SELECT idx, prev, ''::text AS grp, count(*) AS resolved_tickets,
           0::bigint AS proactive_contacts, 0::bigint AS repeat_contact_tickets,
           NULL::float8 AS resolution_median, NULL::float8 AS resolution_p90
    FROM resolved GROUP BY 1, 2, 3
)""",
    "reopen_stats": """
reopen_stats AS (
    SELECT s.idx, s.prev, ''::text AS grp, count(*) AS reopens
    FROM ticketing.status_change sc JOIN s ON @ON0@
    WHERE sc.to_status = 'reopened'
    GROUP BY 1, 2, 3
)""".replace("@ON0@", in_spans("sc.at")),
}


def _statement(report: Report, group_by: str | None) -> str:
    group = group_expression(group_by)
    full = report is Report.SERVICE_METRICS
    counts_only = report is Report.FLOW and group_by is None
    ctes = [f"s AS ({SPANS_SQL})"]
    parts: list[str] = []
    if report in (Report.SERVICE_METRICS, Report.FLOW):
        ctes += [_FIRST_IN_SPAN.format(name="closed", status="closed"),
                 _COUNTS_ONLY["closed_stats"] if counts_only else _CLOSED_STATS.format(group=group)]
        parts.append("closed_stats")
    ctes.append(_FIRST_IN_SPAN.format(name="resolved", status="resolved"))
    ctes.append(
        _COUNTS_ONLY["resolved_stats"] if counts_only else _RESOLVED_STATS.format(
            group=group,
            contacts=_CONTACTS if full else _NO_CONTACTS,
            contacts_join=_CONTACTS_JOIN if full else "",
            resolution=_RESOLUTION if report is Report.RESOLUTION_TIME else _NO_RESOLUTION,
        )
    )
    parts.append("resolved_stats")
    if report in (Report.SERVICE_METRICS, Report.FLOW):
        ctes.append(
            _CREATED_STATS.format(
                group=group, first_response=_FIRST_RESPONSE if full else _NO_FIRST_RESPONSE
            )
        )
        ctes.append(_COUNTS_ONLY["reopen_stats"] if counts_only else _REOPEN_STATS.format(group=group))
        parts += ["created_stats", "reopen_stats"]
    # ungrouped, a span with only reopens still has its one row
    keyed = [p for p in parts if p in _KEYED or group_by is None]
    keys = " UNION ".join(f"SELECT idx, prev, grp FROM {p}" for p in keyed)
    ctes.append(f"keys AS ({keys})")
    select = ["grp", "idx", "prev"]
    joins = []
    for p in parts:
        select += [f"{p}.{c} AS {c}" for c in _COLUMNS[p]]
        joins.append(f"LEFT JOIN {p} USING (idx, prev, grp)")
    return (
        "WITH " + ",\n".join(ctes) + "\nSELECT " + ", ".join(select)
        + "\nFROM keys " + " ".join(joins) + '\nORDER BY grp COLLATE "C", idx, prev'
    )


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(frozen=True)
class TicketFigures:
    """The figures of one group over one span; counts are 0 and the rest None when absent."""

    group: str
    bucket: int
    previous: bool
    closed_tickets: int = 0
    first_contact_resolved: int = 0
    closed_within_72h: int = 0
    resolved_tickets: int = 0
    proactive_contacts: int = 0
    repeat_contact_tickets: int = 0
    resolution_seconds_median: float | None = None
    resolution_seconds_p90: float | None = None
    created_tickets: int = 0
    first_response_seconds_median: float | None = None
    first_response_seconds_p90: float | None = None
    reopens: int = 0

    @property
    def first_contact_resolution_rate(self) -> float | None:
        return _ratio(self.first_contact_resolved, self.closed_tickets)

    @property
    def closure_rate_72h(self) -> float | None:
        return _ratio(self.closed_within_72h, self.closed_tickets)

    @property
    def average_proactive_contacts(self) -> float | None:
        return _ratio(self.proactive_contacts, self.resolved_tickets)

    @property
    def repeat_contact_ratio(self) -> float | None:
        return _ratio(self.repeat_contact_tickets, self.resolved_tickets)

    @property
    def reopen_rate(self) -> float | None:
        return _ratio(self.reopens, self.resolved_tickets)


def _int(v: Any) -> int:
    return int(v) if v is not None else 0


def _float(v: Any) -> float | None:
    return float(v) if v is not None else None


def _figures(r: Any) -> TicketFigures:
    m = r._mapping
    return TicketFigures(
        group=str(r.grp),
        bucket=int(r.idx),
        previous=bool(r.prev),
        closed_tickets=_int(m.get("closed_tickets")),
        first_contact_resolved=_int(m.get("first_contact_resolved")),
        closed_within_72h=_int(m.get("closed_within_72h")),
        resolved_tickets=_int(m.get("resolved_tickets")),
        proactive_contacts=_int(m.get("proactive_contacts")),
        repeat_contact_tickets=_int(m.get("repeat_contact_tickets")),
        resolution_seconds_median=_float(m.get("resolution_median")),
        resolution_seconds_p90=_float(m.get("resolution_p90")),
        created_tickets=_int(m.get("created_tickets")),
        first_response_seconds_median=_float(m.get("first_response_median")),
        first_response_seconds_p90=_float(m.get("first_response_p90")),
        reopens=_int(m.get("reopens")),
    )


def _check_group_by(group_by: str | None) -> None:
    if group_by is not None and group_by not in GROUP_BYS:
        raise InvalidArgument(
            f"group_by must be one of {', '.join(GROUP_BYS)}", code="invalid_group_by"
        )


async def _run(
    session: AsyncSession, report: Report, group_by: str | None, params: dict[str, object]
) -> list[TicketFigures]:
    _check_group_by(group_by)
    conn = await session.connection()
    await conn.execute(text(REPORT_SETTINGS))
    result = await conn.execute(text(_statement(report, group_by)), params)
    return [_figures(r) for r in result]


async def ticket_series(
    session: AsyncSession, plan: Plan, *, report: Report, group_by: str | None
) -> list[TicketFigures]:
    """The figures of `report` per (group, bucket, previous?) of `plan` (see module doc)."""
    return await _run(session, report, group_by, plan.sql_params())


# --- the legacy single-period answer (GetServiceMetrics) ---------------------------------


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
    closed_tickets: int


def _validate(period_start: datetime, period_end: datetime) -> None:
    if period_start.tzinfo is None or period_end.tzinfo is None:
        raise InvalidArgument(
            "period_start and period_end must carry a time zone", code="invalid_period"
        )
    if period_end <= period_start:
        raise InvalidArgument("period_end must be after period_start", code="invalid_period")
    if period_end - period_start > MAX_PERIOD:
        raise InvalidArgument("the period may be at most 366 days long", code="invalid_period")


def _legacy(f: TicketFigures) -> MetricsRow:
    return MetricsRow(
        group=f.group,
        resolved_tickets=f.resolved_tickets,
        first_contact_resolved=f.first_contact_resolved,
        first_contact_resolution_rate=f.first_contact_resolution_rate or 0.0,
        proactive_contacts=f.proactive_contacts,
        average_proactive_contacts=f.average_proactive_contacts or 0.0,
        repeat_contact_tickets=f.repeat_contact_tickets,
        repeat_contact_ratio=f.repeat_contact_ratio or 0.0,
        closure_rate_72h=f.closure_rate_72h or 0.0,
        created_tickets=f.created_tickets,
        first_response_seconds_median=f.first_response_seconds_median or 0.0,
        first_response_seconds_p90=f.first_response_seconds_p90 or 0.0,
        reopens=f.reopens,
        reopen_rate=f.reopen_rate or 0.0,
        closed_tickets=f.closed_tickets,
    )


async def service_metrics(
    session: AsyncSession,
    *,
    period_start: datetime,
    period_end: datetime,
    group_by: str | None,
) -> list[MetricsRow]:
    """The §4 metrics over ``[period_start, period_end)``, one row per group; ungrouped,
    exactly one row (all zeros for an empty period). Rates are 0.0 without a population."""
    _validate(period_start, period_end)
    params = instant_params(period_start, period_end)
    rows = await _run(session, Report.SERVICE_METRICS, group_by, params)
    if group_by is None and not rows:
        rows = [TicketFigures(group="", bucket=0, previous=False)]
    return [_legacy(f) for f in rows]

