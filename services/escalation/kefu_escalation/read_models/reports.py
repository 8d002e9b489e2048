"""Reports of the escalation service (issue #12): SLA attainment and escalations per bucket in
SQL over the spans of a `kefu_common.periods` plan, and the "now" panels (clocks at risk,
escalations waiting for acknowledgement).

Attainment (DOMAIN.md §4 "SLA attainment per target")
    A target counts in the span it *ended* in: ``finished`` = its ``met`` or ``stopped`` (ended
    late) events in the span, ``met`` = the ``met`` ones; ``breached`` = its ``breached`` events
    in the span (it may still be running).

Escalations
    ``cycles_opened`` = ``cycle_opened`` events in the span (first contacts and reopens);
    ``tickets_opened`` = distinct tickets among them; ``tickets_escalated`` = of those, tickets
    escalated at least once within the same span; ``escalations`` = escalations recorded in the
    span, by level reached.

Grouping by team: the ticket's current team as the projection knows it (``clock_ticket.team``)
for clock events, the escalation's own ``team`` for escalations; empty → ``unassigned``.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import InvalidArgument
from kefu_common.periods import REPORT_SETTINGS, SPANS_SQL, Plan, in_spans
from kefu_escalation.clocks.projector import decode_state, load_many_ticket_clocks
from kefu_escalation.escalations.store import COLUMNS  # one column list of escalation rows

_TEAM = "COALESCE(NULLIF({alias}.team, ''), 'unassigned')"

_ATTAINMENT_SQL = """
WITH s AS ({spans})
SELECT s.idx, s.prev, {grp} AS grp, e.target,
       count(*) FILTER (WHERE e.kind IN ('met', 'stopped')) AS finished,
       count(*) FILTER (WHERE e.kind = 'met') AS met,
       count(*) FILTER (WHERE e.kind = 'breached') AS breached
FROM escalation.clock_event e JOIN s ON @ON0@
{join}
WHERE e.kind IN ('met', 'stopped', 'breached') AND e.target IS NOT NULL
GROUP BY 1, 2, 3, 4
""".replace("@ON0@", in_spans("e.at"))

_ESCALATIONS_SQL = """
WITH s AS ({spans}),
opened AS (
    SELECT s.idx, s.prev, e.ticket_id, count(*) AS cycles
    FROM escalation.clock_event e JOIN s ON @ON0@
    WHERE e.kind = 'cycle_opened'
    GROUP BY 1, 2, 3
),
escalated AS (
    SELECT s.idx, s.prev, x.ticket_id, {grp_x} AS grp, x.to_level
    FROM escalation.escalation x JOIN s ON @ON1@
),
opened_stats AS (
    SELECT o.idx, o.prev, {grp_ct} AS grp, sum(o.cycles) AS cycles_opened,
           count(*) AS tickets_opened,
           count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM escalated x
               WHERE x.idx = o.idx AND x.prev = o.prev AND x.ticket_id = o.ticket_id
           )) AS tickets_escalated
    FROM opened o {join_ct}
    GROUP BY 1, 2, 3
),
escalation_stats AS (
    SELECT idx, prev, grp, count(*) AS escalations,
           count(*) FILTER (WHERE to_level = 'L1') AS to_l1,
           count(*) FILTER (WHERE to_level = 'L2') AS to_l2,
           count(*) FILTER (WHERE to_level = 'L3') AS to_l3
    FROM escalated
    GROUP BY 1, 2, 3
),
keys AS (SELECT idx, prev, grp FROM opened_stats UNION SELECT idx, prev, grp FROM escalation_stats)
SELECT idx, prev, grp, cycles_opened, tickets_opened, tickets_escalated, escalations,
       to_l1, to_l2, to_l3
FROM keys LEFT JOIN opened_stats USING (idx, prev, grp)
LEFT JOIN escalation_stats USING (idx, prev, grp)
""".replace("@ON0@", in_spans("e.at")).replace("@ON1@", in_spans("x.created_at"))


@dataclass
class SlaFigures:
    group: str
    bucket: int
    previous: bool
    targets: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # finished, met, breached
    cycles_opened: int = 0
    tickets_opened: int = 0
    tickets_escalated: int = 0
    escalations: int = 0
    to_l1: int = 0
    to_l2: int = 0
    to_l3: int = 0


def _n(v: Any) -> int:
    return int(v) if v is not None else 0


async def attainment_series(session: AsyncSession, plan: Plan, *, by_team: bool) -> list[SlaFigures]:
    sql = _ATTAINMENT_SQL.format(
        spans=SPANS_SQL,
        grp=_TEAM.format(alias="ct") if by_team else "''::text",
        join="LEFT JOIN escalation.clock_ticket ct ON ct.ticket_id = e.ticket_id" if by_team else "",
    )
    conn = await session.connection()
    await conn.execute(text(REPORT_SETTINGS))
    rows = (await conn.execute(text(sql), plan.sql_params())).all()
    out: dict[tuple[str, int, bool], SlaFigures] = {}
    for r in rows:
        key = (str(r.grp), int(r.idx), bool(r.prev))
        fig = out.setdefault(key, SlaFigures(*key))
        fig.targets[str(r.target)] = (_n(r.finished), _n(r.met), _n(r.breached))
    return list(out.values())


async def escalation_series(session: AsyncSession, plan: Plan, *, by_team: bool) -> list[SlaFigures]:
    sql = _ESCALATIONS_SQL.format(
        spans=SPANS_SQL,
        grp_ct=_TEAM.format(alias="ct") if by_team else "''::text",
        join_ct="LEFT JOIN escalation.clock_ticket ct ON ct.ticket_id = o.ticket_id" if by_team else "",
        grp_x=_TEAM.format(alias="x") if by_team else "''::text",
    )
    conn = await session.connection()
    await conn.execute(text(REPORT_SETTINGS))
    rows = (await conn.execute(text(sql), plan.sql_params())).all()
    return [
        SlaFigures(
            str(r.grp), int(r.idx), bool(r.prev), cycles_opened=_n(r.cycles_opened),
            tickets_opened=_n(r.tickets_opened), tickets_escalated=_n(r.tickets_escalated),
            escalations=_n(r.escalations), to_l1=_n(r.to_l1), to_l2=_n(r.to_l2), to_l3=_n(r.to_l3),
        )
        for r in rows
    ]


# ------------------------------------------------------------------ clocks at risk now

# Candidates: open cycles whose next warning/breach falls before the horizon (a clock due
# within the window has its breach instant, or an earlier warning, there), and (if asked) those
# holding a breach already recorded and not ended (clocks[i] = [name, target, started_at,
# running_since, used, due_crossed, warn_crossed, warned, breached, outcome],
# clocks.encode_state).
# Kept equal to the predicate of the partial index ix_clock_ticket_breached_open (0011).
_BREACHED = (
    "clock_state ->> 'stopped_at' IS NULL "
    "AND clock_state @? '$.clocks[*] ? (@[8] == true && @[9] == null)'"
)
_COLUMNS_AT_RISK = (
    "ticket_id, level, COALESCE(team, '') AS team, CAST(clock_state AS text) AS clock_state, "
    "CAST(clock_calendar AS text) AS clock_calendar"
)
_DUE_SOON_SQL = (
    f"SELECT {_COLUMNS_AT_RISK} FROM escalation.clock_ticket "
    "WHERE next_deadline IS NOT NULL AND next_deadline <= :horizon "
    "AND (clock_state IS NULL OR clock_state ->> 'stopped_at' IS NULL) {team}"
)
_BREACHED_SQL = f"SELECT {_COLUMNS_AT_RISK} FROM escalation.clock_ticket WHERE {_BREACHED} {{team}}"


@dataclass(frozen=True)
class ClockAtRisk:
    ticket_id: uuid.UUID
    cycle: int
    target: str
    due_at: datetime
    seconds_remaining: int
    seconds_overrun: int
    breached: bool
    level: str
    team: str


def _risk_token(c: ClockAtRisk) -> str:
    raw = f"{c.due_at.isoformat()}|{c.ticket_id}|{c.target}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _risk_key(token: str) -> tuple[datetime, str, str]:
    try:
        at, ticket, target = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        return datetime.fromisoformat(at), str(uuid.UUID(ticket)), target
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("page_token is not one this service issued", code="invalid_page_token") from None


async def clocks_at_risk(
    session: AsyncSession, *, now: datetime, within: timedelta, include_breached: bool,
    team: str = "", limit: int = 50, after: str = "",
) -> tuple[list[ClockAtRisk], str]:
    """Running clocks of open cycles due within `within` of `now`, and (if asked) clocks past
    due and not ended, soonest due first (most overdue first); keyset pages (due_at, ticket,
    target). Seconds are wall-clock seconds to/since the due instant, rounded down."""
    params = {"horizon": now + within, "team": team}
    scope = "AND team = :team" if team else ""
    sql = _DUE_SOON_SQL.format(team=scope)
    if include_breached:
        sql = f"{sql} UNION {_BREACHED_SQL.format(team=scope)}"
    rows = (await (await session.connection()).execute(text(sql), params)).all()
    restored = {r.ticket_id: decode_state(r.clock_state, r.clock_calendar) for r in rows}
    missing = [t for t, c in restored.items() if c is None]
    if missing:
        restored.update(await load_many_ticket_clocks(session, missing))
    found: list[ClockAtRisk] = []
    for r in rows:
        clocks = restored[r.ticket_id]
        cycle = clocks.current if clocks is not None else None
        if cycle is None or not cycle.is_open:
            continue
        for name in cycle.active_targets:
            due = cycle.due_at(name)
            if due is None:  # paused with time left
                continue
            late = due <= now
            if (late and not include_breached) or (not late and due > now + within):
                continue
            delta = int((due - now).total_seconds()) if not late else int((now - due).total_seconds())
            found.append(ClockAtRisk(
                ticket_id=r.ticket_id, cycle=cycle.number, target=name, due_at=due,
                seconds_remaining=0 if late else delta, seconds_overrun=delta if late else 0,
                breached=late, level=str(r.level), team=str(r.team),
            ))
    found.sort(key=lambda c: (c.due_at, str(c.ticket_id), c.target))
    if after:
        key = _risk_key(after)
        found = [c for c in found if (c.due_at, str(c.ticket_id), c.target) > key]
    page = found[:limit]
    token = _risk_token(page[-1]) if len(found) > limit else ""
    return page, token


# ------------------------------------------------------- escalations not acknowledged

_UNACKED_SQL = """
SELECT {columns} FROM escalation.escalation
WHERE acknowledged_at IS NULL {team} {after}
ORDER BY created_at, id
LIMIT :lim
"""


async def unacknowledged(
    session: AsyncSession, *, team: str = "", limit: int = 50,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Any]:
    """Escalations nobody has acknowledged yet (open, or late: ack_breached), oldest first;
    `after` is the keyset (created_at, id) of the previous page's last row."""
    params: dict[str, Any] = {"lim": limit, "team": team}
    if after is not None:
        params["a_at"], params["a_id"] = after
    sql = _UNACKED_SQL.format(
        columns=COLUMNS,
        team="AND team = :team" if team else "",
        after="AND (created_at, id) > (:a_at, :a_id)" if after is not None else "",
    )
    return list((await (await session.connection()).execute(text(sql), params)).all())
