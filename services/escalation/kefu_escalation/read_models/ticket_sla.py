"""Read models of the escalation service: a ticket's clocks as customers and staff see them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import InvalidArgument, NotFound
from kefu_escalation.configuration.cn_holidays import uncovered_years
from kefu_escalation.clocks.projector import encode_details, load_ticket_clocks, snapshot_targets
from kefu_escalation.escalations.store import list_escalations
from kefu_escalation.escalations.levels import LEVELS
from kefu_escalation.configuration.service import load_calendar
from kefu_escalation.clocks.model import ClockError, SlaCycle, TicketClocks

_ZERO = timedelta(0)


@dataclass(frozen=True)
class ClockState:
    target: str
    duration: timedelta
    started_at: datetime
    due_at: datetime | None
    warn_at: datetime | None
    state: str  # running | paused | met | breached
    used: timedelta
    remaining: timedelta
    overrun: timedelta
    warned: bool
    breached: bool
    paused_reason: str
    finished_at: datetime | None
    unpublished_years: tuple[int, ...] = ()  # due time reaches into years without holiday data


@dataclass(frozen=True)
class CycleState:
    number: int
    opened_at: datetime
    stopped_at: datetime | None
    calendar: str
    paused: bool
    clocks: list[ClockState]
    history: list[tuple[str, str, datetime, str]]  # kind, target, at, details JSON


@dataclass(frozen=True)
class TicketSlaView:
    ticket_id: uuid.UUID
    level: str
    cycles: list[CycleState]
    escalations: list[Any] = field(default_factory=list)
    next_update_by: datetime | None = None
    resolve_by: datetime | None = None
    as_of: datetime | None = None
    next_update_overdue: timedelta = _ZERO  # how long next_update_by has passed without an update
    provisional: bool = False  # from the ticket's own snapshot: not projected yet
    unpublished_years: tuple[int, ...] = ()  # the commitments reach into years without holiday data


def _clock_state(cycle: SlaCycle, name: str, now: datetime) -> ClockState:
    c = cycle._clocks[name]  # noqa: SLF001 - the read model folds the same state
    outcome = c.outcome
    used = cycle.used(name, now)
    duration = c.target.duration
    warned, breached = c.warned, c.breached
    if outcome is not None:
        state = outcome.result
        due = outcome.due_at
        finished = outcome.finished_at
    else:
        due = cycle.due_at(name)
        finished = None
        late = due is not None and now >= due
        state = "breached" if (breached or late) else ("running" if c.running_since is not None else "paused")
    paused_reason = "pending_customer" if state == "paused" else ""
    cal = cycle.calendar
    unpublished = uncovered_years(cal.holidays, c.started_at, due, cal.tz) if due is not None else ()
    return ClockState(
        target=name, duration=duration, started_at=c.started_at, due_at=due,
        warn_at=cycle.warn_at(name) if outcome is None else None, state=state, used=used,
        remaining=max(_ZERO, duration - used), overrun=max(_ZERO, used - duration),
        warned=warned, breached=breached or state == "breached", paused_reason=paused_reason,
        finished_at=finished, unpublished_years=unpublished if outcome is None else (),
    )


@dataclass(frozen=True)
class ProvisionalSla:
    """The SLA snapshot a ticket holds (ticketing's copy of ResolveSla's answer at creation)."""

    level: str
    first_contact_at: datetime
    sla: dict[str, Any]  # as in ticket.created: policy_id, policy_version, calendar, targets


async def ticket_sla(session: AsyncSession, ticket_id: uuid.UUID, *, now: datetime,
                     provisional: ProvisionalSla | None = None) -> TicketSlaView:
    """The ticket's clocks; before the projection has seen the ticket, the clocks its own SLA
    snapshot starts (`provisional`, read-your-writes: issue #14.2), else NotFound."""
    state = (await (await session.connection()).execute(text(
        "SELECT level, next_update_by FROM escalation.clock_ticket "
        "WHERE ticket_id = :t"), {"t": ticket_id})).first()
    if state is None:
        if provisional is None:
            raise NotFound(f"no SLA clocks for ticket {ticket_id}", code="ticket_not_found")
        return await _provisional(session, ticket_id, provisional, now=now)
    clocks = await load_ticket_clocks(session, ticket_id)
    current = clocks.current
    next_update_by = state.next_update_by if current is not None and current.is_open else None
    escalations = await list_escalations(session, ticket_id=ticket_id, limit=200)
    return _view(ticket_id, state.level, clocks, escalations, next_update_by, now=now)


async def _provisional(session: AsyncSession, ticket_id: uuid.UUID, snapshot: ProvisionalSla, *,
                       now: datetime) -> TicketSlaView:
    """What the projection will store once it sees `ticket.created`: cycle 1 opened at the
    first contact with the snapshot's targets (the same model, not a copy of its rules)."""
    try:
        calendar, targets = await snapshot_targets(session, snapshot.sla, load_calendar)
        if not targets:
            raise NotFound(f"no SLA clocks for ticket {ticket_id}", code="ticket_not_found")
        empty = TicketClocks()
        clocks = empty.append(empty.open_cycle(snapshot.first_contact_at, targets, calendar))
    except ClockError as err:
        raise InvalidArgument(f"provisional SLA snapshot: {err}", code="invalid_provisional") from None
    durations = {t.get("name"): t.get("duration_seconds") for t in snapshot.sla.get("targets", ())}
    next_update = durations.get("next_update")
    next_update_by = calendar.add(snapshot.first_contact_at, timedelta(seconds=next_update)) if next_update else None
    level = snapshot.level if snapshot.level in LEVELS else "L0"
    return _view(ticket_id, level, clocks, [], next_update_by, now=now, provisional=True)


def _view(ticket_id: uuid.UUID, level: str, clocks: TicketClocks, escalations: list[Any],
          next_update_by: datetime | None, *, now: datetime, provisional: bool = False) -> TicketSlaView:
    cycles: list[CycleState] = []
    for cycle in clocks.cycles:
        history = [
            (e.kind, e.target or "", e.at, json.dumps(_public_details(e.kind, e.details), default=str))
            for e in clocks.events if e.cycle == cycle.number
        ]
        cycles.append(CycleState(
            number=cycle.number, opened_at=cycle.opened_at, stopped_at=cycle.stopped_at,
            calendar=cycle.calendar.name, paused=cycle.pending,
            clocks=[_clock_state(cycle, name, now) for name in cycle.started_targets],
            history=history,
        ))
    current = clocks.current
    resolve_by = None
    unpublished: tuple[int, ...] = ()
    if current is not None and current.is_open:
        if "resolution" in current.active_targets:
            resolve_by = current.due_at("resolution")
        cal = current.calendar
        promised = [d for d in (next_update_by, resolve_by) if d is not None]
        if promised:
            unpublished = uncovered_years(cal.holidays, min(now, *promised), max(promised), cal.tz)
    return TicketSlaView(ticket_id=ticket_id, level=level, cycles=cycles, escalations=escalations,
                         next_update_by=next_update_by, resolve_by=resolve_by, as_of=now,
                         next_update_overdue=_overdue(next_update_by, now), provisional=provisional,
                         unpublished_years=unpublished)


def _overdue(due: datetime | None, now: datetime) -> timedelta:
    """How long a commitment has passed (zero when it has not, or there is none)."""
    return max(_ZERO, now - due) if due is not None else _ZERO


def _public_details(kind: str, details: Any) -> dict[str, Any]:
    """Event details for the audit view: calendars by name, targets by name and duration."""
    out = encode_details(kind, details)
    if isinstance(out.get("calendar"), dict):
        out["calendar"] = out["calendar"].get("name")
    return out


# ------------------------------------------------------------------------------ report

MAX_REPORT_DAYS = 366


@dataclass(frozen=True)
class SlaReportView:
    targets: list[tuple[str, int, int]]  # target, finished, met
    cycles_opened: int
    tickets_opened: int
    tickets_escalated: int
    escalations: list[tuple[str, str, int]]  # trigger, to_level, count


async def sla_report(session: AsyncSession, *, start: datetime, end: datetime, team: str = "") -> SlaReportView:
    """DOMAIN.md §4 "SLA attainment per target" and "escalation rate" over [start, end).

    A target counts in the period it *ended* in (met, or ended late: ``stopped``); a ticket
    counts for the escalation rate when one of its cycles opened in the period, and as
    escalated when it was escalated in the period."""
    if end <= start or end - start > timedelta(days=MAX_REPORT_DAYS):
        raise InvalidArgument(f"the period must be non-empty and at most {MAX_REPORT_DAYS} days",
                              code="invalid_period")
    conn = await session.connection()
    scope = "AND ticket_id IN (SELECT ticket_id FROM escalation.clock_ticket WHERE team = :team)" if team else ""
    params = {"start": start, "end": end, "team": team}
    targets = (await conn.execute(text(
        "SELECT target, count(*) AS finished, count(*) FILTER (WHERE kind = 'met') AS met "
        "FROM escalation.clock_event WHERE kind IN ('met', 'stopped') AND target IS NOT NULL "
        f"AND at >= :start AND at < :end {scope} GROUP BY target ORDER BY target"), params)).all()
    opened = (await conn.execute(text(
        "WITH opened AS (SELECT DISTINCT ticket_id FROM escalation.clock_event WHERE kind = 'cycle_opened' "
        f"AND at >= :start AND at < :end {scope}) "
        "SELECT (SELECT count(*) FROM escalation.clock_event WHERE kind = 'cycle_opened' "
        f"  AND at >= :start AND at < :end {scope}) AS cycles, "
        "(SELECT count(*) FROM opened) AS tickets, "
        "(SELECT count(DISTINCT e.ticket_id) FROM escalation.escalation e JOIN opened o USING (ticket_id) "
        "  WHERE e.created_at >= :start AND e.created_at < :end) AS escalated"), params)).one()
    by_trigger = (await conn.execute(text(
        "SELECT trigger, to_level, count(*) FROM escalation.escalation "
        f"WHERE created_at >= :start AND created_at < :end {scope} GROUP BY trigger, to_level "
        "ORDER BY trigger, to_level"), params)).all()
    return SlaReportView(
        targets=[(r.target, int(r.finished), int(r.met)) for r in targets],
        cycles_opened=int(opened.cycles), tickets_opened=int(opened.tickets),
        tickets_escalated=int(opened.escalated),
        escalations=[(r[0], r[1], int(r[2])) for r in by_trigger],
    )
