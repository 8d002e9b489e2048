"""Ticket metrics (DOMAIN.md §4) over spans of time, computed in PostgreSQL in one statement.

Nothing here loads tickets into Python: one SQL statement aggregates per (span, group) and
returns at most one row per pair. The spans are those of a report's plan
(`kefu_common.periods`: each bucket and its previous span, as UTC instants) or the single
span of the legacy `GetServiceMetrics` period. The definitions below are the product
decisions; the SQL follows them literally. A span is half-open, ``[lo, hi)``.

The statement reads the read model ``ticketing.report_fact`` (migration 0007: one row per
creation, resolution, closure and reopen of a ticket, with the ticket's current values the
definitions read, kept by triggers in the writing transaction), never the ticket, status
change and contact rows themselves: one index-only range scan per report.

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
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import InvalidArgument
from kefu_common.periods import REPORT_SETTINGS, Plan, in_spans, instant_params, local_midnight

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


# The same groups read from the report read model (`report_fact`, alias `f`): its columns are
# the ticket's current values, kept by the triggers of ticketing migration 0007.
# Byte order ("C"): the percentiles make PostgreSQL sort the rows by group, and comparing
# bytes is several times cheaper than the database's linguistic collation (same groups: equal
# strings are equal bytes; the answer is ordered by "C" anyway).
_BYTES = ' COLLATE "C"'
_FACT_GROUPS: dict[str | None, str] = {
    None: "''::text",
    "team": "COALESCE(NULLIF(f.team, ''), 'unassigned')" + _BYTES,
    "agent": "COALESCE(NULLIF(f.agent, ''), 'unassigned')" + _BYTES,
    "category": "f.category" + _BYTES,
    "channel": "f.channel" + _BYTES,
}

# report_fact.kind
CREATED, RESOLVED, CLOSED, REOPENED = 1, 2, 3, 4

# The distinct spans of a plan (`s`: the number of each of their days, the span's id and the
# instant it begins) and the (bucket, previous?) labels of each (`l`). Day and week buckets
# with their previous spans are mostly the same spans twice (the day before a day is the
# previous bucket): each is aggregated once and its figures given to every label.
# A fact is its ticket's first of its kind in a span when the ticket's previous one of that
# kind (`prev_at`) is older than the span's start (`since`): "counted once, at its first
# instant in the span" without grouping by ticket.
_SPANS = (
    "SELECT * FROM unnest(CAST(:span_n AS int[]), CAST(:span_id AS int[]), "
    "CAST(:span_since AS timestamptz[])) AS s(n, id, since)"
)
_LABELS = (
    "SELECT * FROM unnest(CAST(:label_id AS int[]), CAST(:label_idx AS int[]), "
    "CAST(:label_prev AS boolean[])) AS l(id, idx, prev)"
)
_FIRST = "(f.prev_at IS NULL OR f.prev_at < s.since)"
_CLOSED = f"f.kind = {CLOSED} AND {_FIRST}"
_RESOLVED = f"f.kind = {RESOLVED} AND {_FIRST}"


def _percentiles(name: str, where: str) -> str:
    return ", ".join(
        f"percentile_cont({q}) WITHIN GROUP (ORDER BY f.seconds) FILTER (WHERE {where}) AS {name}_{label}"
        for q, label in ((0.5, "median"), (0.9, "p90"))
    )


def group_expression(group_by: str | None) -> str:
    """The SQL naming the group of ticket `t`; unknown group_by → InvalidArgument."""
    _check_group_by(group_by)
    return _GROUP_EXPRESSIONS[group_by]


def _statement(report: Report, group_by: str | None) -> str:
    """One scan of the facts in the plan's bounds, aggregated per (span, group). Each report
    returns exactly the figures it always did (the others stay 0 / None)."""
    _check_group_by(group_by)
    full = report is Report.SERVICE_METRICS
    counts_only = report is Report.FLOW and group_by is None
    if report is Report.RESOLUTION_TIME:
        kinds = (RESOLVED,)
        columns = [
            f"count(*) FILTER (WHERE {_RESOLVED}) AS resolved_tickets",
            _percentiles("resolution", _RESOLVED),
        ]
        keyed = f"f.kind = {RESOLVED}"
    else:
        kinds = (CREATED, RESOLVED, CLOSED, REOPENED)
        columns = [
            f"count(*) FILTER (WHERE {_CLOSED}) AS closed_tickets",
            "0::bigint AS first_contact_resolved, 0::bigint AS closed_within_72h" if counts_only else
            f"count(*) FILTER (WHERE {_CLOSED} AND NOT f.reopened) AS first_contact_resolved, "
            f"count(*) FILTER (WHERE {_CLOSED} AND f.within_72h) AS closed_within_72h",
            f"count(*) FILTER (WHERE {_RESOLVED}) AS resolved_tickets",
            f"COALESCE(sum(f.inbound) FILTER (WHERE {_RESOLVED}), 0) AS proactive_contacts, "
            f"count(*) FILTER (WHERE {_RESOLVED} AND f.inbound >= 2) AS repeat_contact_tickets" if full else
            "0::bigint AS proactive_contacts, 0::bigint AS repeat_contact_tickets",
            f"count(*) FILTER (WHERE f.kind = {CREATED}) AS created_tickets",
            _percentiles("first_response", f"f.kind = {CREATED}") if full else
            "NULL::float8 AS first_response_median, NULL::float8 AS first_response_p90",
            f"count(*) FILTER (WHERE f.kind = {REOPENED}) AS reopens",
        ]
        keyed = f"f.kind <> {REOPENED}"  # a group with only reopens does not appear
    having = "" if group_by is None else f"\nHAVING count(*) FILTER (WHERE {keyed}) > 0"
    return (
        f"WITH s AS ({_SPANS}), l AS ({_LABELS}),\nr AS (\n"
        f"SELECT s.id, {_FACT_GROUPS[group_by]} AS grp, " + ", ".join(columns)
        + f"\nFROM ticketing.report_fact f JOIN s ON {in_spans('f.at')}"
        + f"\nWHERE f.kind IN ({', '.join(map(str, kinds))})"
        + "\nGROUP BY 1, 2" + having  # the span first: an integer compares fastest
        + '\n)\nSELECT l.idx, l.prev, r.* FROM r JOIN l USING (id) ORDER BY grp COLLATE "C", idx, prev'
    )


def _spans(params: dict[str, object]) -> dict[str, object]:
    """The parameters of `_SPANS` and `_LABELS` from those of `Plan.sql_params` or
    `instant_params`: each distinct span, its days and the instant it begins (local midnight
    of its first day, or the start of the bounds when that is later)."""
    tz = ZoneInfo(str(params["tz"]))
    lo = params["lo"]
    assert isinstance(lo, datetime)
    days, ns, idx, prev = params["span_day"], params["span_n"], params["span_idx"], params["span_prev"]
    assert isinstance(days, list) and isinstance(ns, list) and isinstance(idx, list) and isinstance(prev, list)
    spans: dict[tuple[int, bool], list[tuple[date, int]]] = {}
    for d, n, i, p in zip(days, ns, idx, prev, strict=True):
        spans.setdefault((i, p), []).append((d, n))
    ids: dict[tuple[int, ...], int] = {}
    out: dict[str, list[object]] = {k: [] for k in
                                    ("span_n", "span_id", "span_since", "label_id", "label_idx", "label_prev")}
    for (i, p), span_days in spans.items():
        numbers = tuple(sorted(n for _, n in span_days))
        if numbers not in ids:
            ids[numbers] = len(ids)
            since = max(lo, local_midnight(min(d for d, _ in span_days), tz))
            out["span_n"] += numbers
            out["span_id"] += [ids[numbers]] * len(numbers)
            out["span_since"] += [since] * len(numbers)
        out["label_id"].append(ids[numbers])
        out["label_idx"].append(i)
        out["label_prev"].append(p)
    return params | out


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
    m = r._asdict()  # a dict: .get of an absent column is cheap (a Row mapping raises inside)
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
    result = await conn.execute(text(_statement(report, group_by)), _spans(params))
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

