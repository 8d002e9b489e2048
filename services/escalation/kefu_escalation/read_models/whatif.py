"""What-if: how a draft matrix would move the deadlines of open tickets (nothing is written).

For every ticket whose current cycle is open, the draft cell of its matrix tier x severity
names a policy; the cycle's own history (its pauses and resumes, at their instants) is
replayed with the draft policy's calendar and targets in place of the ones it was opened with.
A target already met or stopped is not compared; each target still running or paused is, and
a change of its due instant (or of the ticket's matrix level) is reported.

This is a forecast only: publishing never changes clocks of cycles already open (their targets
are snapshots), so the figures say what *new* cycles of the same tickets would get — the
question a supervisor asks before publishing ("how many of today's tickets would be late?").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import FailedPrecondition
from kefu_escalation.configuration.calendars import BusinessCalendar
from kefu_escalation.clocks.projector import DEFAULT_WARNING_PERCENT, SNAPSHOT_TARGETS, load_ticket_clocks
from kefu_escalation.models import SlaPolicy
from kefu_escalation.configuration.service import Cell
from kefu_escalation.clocks.model import ClockError, ClockEvent, Target, TicketClocks

MAX_TICKETS = 10_000  # open cycles examined per preview (oldest deadlines first)

_OPEN_TICKETS = text(
    "SELECT c.ticket_id, c.matrix_tier, c.severity, c.level, c.policy FROM escalation.clock_ticket c "
    "WHERE c.matrix_tier IS NOT NULL AND NOT EXISTS (SELECT 1 FROM escalation.clock_event e "
    "  WHERE e.ticket_id = c.ticket_id AND e.kind = 'stopped' AND e.target IS NULL "
    "  AND e.cycle = (SELECT max(cycle) FROM escalation.clock_event m WHERE m.ticket_id = c.ticket_id)) "
    "ORDER BY c.next_deadline NULLS LAST, c.ticket_id LIMIT :lim"
)


@dataclass(frozen=True)
class Shift:
    ticket_id: str
    cycle: int
    target: str
    current_due: datetime | None
    draft_due: datetime | None
    current_policy: str
    draft_policy: str
    current_level: str
    draft_level: str

    @property
    def seconds(self) -> int:
        if self.current_due is None or self.draft_due is None:
            return 0
        return int((self.draft_due - self.current_due) / timedelta(seconds=1))


@dataclass(frozen=True)
class Preview:
    shifts: list[Shift]
    open_cycles: int

    @property
    def earlier(self) -> int:
        return sum(1 for s in self.shifts if s.seconds < 0)

    @property
    def later(self) -> int:
        return sum(1 for s in self.shifts if s.seconds > 0)


def _draft_targets(policy: SlaPolicy) -> tuple[Target, ...]:
    seconds = {"first_response": policy.first_response_seconds, "resolution": policy.resolution_seconds}
    return tuple(
        Target(name, timedelta(seconds=seconds[name]), pauses_when_pending=pauses,
               warning_percent=policy.warning_percent or DEFAULT_WARNING_PERCENT,
               warning_before=timedelta(seconds=policy.warning_before_seconds)
               if policy.warning_before_seconds else None)
        for name, pauses in SNAPSHOT_TARGETS.items()
    )


def replay_with(clocks: TicketClocks, calendar: BusinessCalendar, targets: tuple[Target, ...]) -> TicketClocks:
    """The ticket's history with its current cycle re-run on another calendar and targets."""
    current = clocks.current
    assert current is not None
    by_name = {t.name: t for t in targets}
    ended: set[str] = set()
    rewritten: list[ClockEvent] = []
    for e in clocks.events:
        if e.cycle != current.number:
            rewritten.append(e)
            continue
        if e.kind == "reclassified":
            continue  # the draft's cell replaces whatever a reclassification tightened
        details = {k: v for k, v in e.details.items() if k not in ("due_at", "warn_at")}
        if e.kind == "cycle_opened":
            details.update(calendar=calendar, targets=targets)
        elif e.target is not None:
            if e.kind in ("warned", "breached"):
                continue
            if e.kind in ("met", "stopped") or e.target not in by_name or e.target in ended:
                ended.add(e.target)
                continue
            if e.kind == "started":
                details["definition"] = by_name[e.target]
        rewritten.append(ClockEvent(e.kind, e.cycle, e.at, e.target, details))
    return TicketClocks.replay(rewritten)


async def preview_matrix(session: AsyncSession, cells: Sequence[Cell], *, calendars, limit: int = MAX_TICKETS) -> Preview:
    policies: dict[tuple[str, str], tuple[str, SlaPolicy]] = {}
    for c in cells:
        policy = await session.get(SlaPolicy, (c.policy_id, c.policy_version))
        if policy is None:
            raise FailedPrecondition(f"the draft names policy {c.policy_id} v{c.policy_version}, "
                                     "which does not exist", code="policy_missing")
        policies[(c.tier, c.severity)] = (c.level, policy)
    rows = (await (await session.connection()).execute(_OPEN_TICKETS, {"lim": limit})).all()
    shifts: list[Shift] = []
    for r in rows:
        draft = policies.get((r.matrix_tier, r.severity))
        if draft is None:
            continue
        draft_level, policy = draft
        clocks = await load_ticket_clocks(session, r.ticket_id)
        cycle = clocks.current
        if cycle is None or not cycle.is_open:
            continue
        calendar = await calendars(session, policy.calendar)
        try:
            other = replay_with(clocks, calendar, _draft_targets(policy)).current
        except ClockError:
            continue  # a history the draft cannot express (should not happen); not a forecast
        assert other is not None
        label = f"{policy.id} v{policy.version}"
        for name in cycle.active_targets:
            if name not in other.active_targets:
                continue
            now_due, draft_due = cycle.due_at(name), other.due_at(name)
            if now_due != draft_due or draft_level != r.level:
                shifts.append(Shift(str(r.ticket_id), cycle.number, name, now_due, draft_due,
                                    current_policy=r.policy or "", draft_policy=label,
                                    current_level=r.level, draft_level=draft_level))
    shifts.sort(key=lambda s: (s.current_due is None, s.current_due or datetime.max.replace(tzinfo=None)))
    return Preview(shifts=shifts, open_cycles=len(rows))
