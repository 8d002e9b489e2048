"""Escalations: triggers, levels, acknowledgement clocks and the notifications they send
(issue 4, DOMAIN.md §2 "Triggers and actions").

Every function here takes the caller's session and never commits: an escalation, the level
change on the ticket, its acknowledgement clock and its notification are written in the same
transaction as whatever caused them (an inbox event, a timer firing, an RPC), so a crash never
leaves an escalation without its notification or the other way round.

Rules (each is a test in tests/integration/test_escalation_triggers.py):

* **Levels** ``L0 < L1 < L2 < L3``; each goes to a party: L1 senior specialist, L2 team lead,
  L3 crisis team (with the ticket's team). An escalation always raises the ticket's level;
  a trigger that finds the ticket already at (or above) the level it would reach records no
  escalation and sends a notification to the current party instead (at L3 there is nowhere
  higher to go, but people must still hear about a breach).
* **Triggers** and their de-duplication key within a cycle (the same key never escalates the
  same cycle twice — a unique index, so replicas and retries cannot double it):
  ``matrix`` (the matrix level at creation, cycle 1), ``breach:<target>`` (+1 level),
  ``contacts`` (the N-th customer-initiated contact, +1), ``reopens`` (reopen_count reached N,
  +1, once per new cycle), ``anxious_customer`` (N progress views within an hour, +1),
  ``risk_signal:<kind>`` (regulator/media/legal straight to L3, others +1), ``manual:<request>``
  (green channel: the requested level or +1), ``ack_timeout:<escalation id>`` (+1 above the
  party that did not acknowledge), ``dissatisfied_rating`` (a CSAT rating at or below
  ticketing's threshold of a resolved cycle, +1: it proposes reopening the ticket). A warning
  notifies and never escalates.
* **Acknowledgement clock**: every escalation starts one for the party it went to (the policy's
  ``escalation_ack`` target) in business time of the calendar that governs its notification:
  the staff calendar below L3 (notified in working hours), the ticket's SLA calendar at L3
  (notified at once) — so nobody's clock runs out before they are told (issue #14.5). The timer marks an
  unacknowledged escalation ``ack_breached`` at its due instant and escalates one level higher,
  unless the ticket's cycle has meanwhile been resolved.
* **Notifications** go to an outbox (``escalation.notification``, unique ``dedupe_key``);
  a notification to people is held until the start of the staff calendar's next working
  period, except at L3 (crisis team: at once).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu.common.v1 import types_pb2
from kefu.escalation.v1 import escalation_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.db import driver_connection
from kefu_common.errors import AlreadyExists, PermissionDenied
from kefu_common.logging import get_logger
from kefu_common.metrics import ESCALATIONS
from kefu_common.protoconv import enum_choices, enum_to_str, from_timestamp
from kefu_escalation.configuration.calendars import BusinessCalendar
from kefu_escalation import notifications
from kefu_escalation.clocks import store as clock_store
from kefu_escalation.escalations import store, triggers
from kefu_escalation.escalations.store import (
    COLUMNS,
    current_open_cycle,
    escalation_payload,
    get_escalation,
    list_by_key,
)
from kefu_escalation.escalations.levels import (
    LEVELS,
    NOT_ESCALATED_PARTY,
    PARTIES,
    is_higher,
    may_acknowledge,
    notified_at_once,
    raise_level,
)
from kefu_escalation.clocks.model import ClockEvent
from kefu_escalation.escalations.triggers import Occasion, Proposal, ack_timeout, breach, manual, matrix, risk_signal

log = get_logger("kefu.escalation.escalations")

__all__ = [
    "CRISIS_SIGNALS",
    "SIGNAL_KINDS",
    "TIMER_CHANNEL",
    "TIMER_STEPS",
    "TRIGGERS",
    "Escalator",
    "TriggerSettings",
]

Action = ticketing_pb2.StatusAction
# The wire enums name them (kefu.escalation.v1.SignalKind, EscalationTrigger); rows keep these spellings.
SIGNAL_KINDS = tuple(enum_choices(escalation_pb2.SignalKind))
TRIGGERS = tuple(enum_choices(escalation_pb2.EscalationTrigger))
CRISIS_SIGNALS = risk_signal.CRISIS_SIGNALS
# NOTIFY channel: a new or earlier deadline exists; every replica's timer re-reads its wake-up.
# Payload "<step> <ISO instant>" (step: ticks, acks, updates): the earliest new deadline of that
# kind in the committing transaction; an empty payload means "anything may have changed".
TIMER_CHANNEL = "kefu_escalation_timer"
TIMER_STEPS = ("ticks", "acks", "updates")

CALENDAR_TTL_SECONDS = 10.0


@dataclass(frozen=True)
class Notice:
    """One notification to queue (see `Escalator.notify_many`)."""

    ticket_id: uuid.UUID
    kind: str
    level: str
    at: datetime
    key: str
    payload: Mapping[str, Any]
    escalation_id: uuid.UUID | None = None


@dataclass(frozen=True)
class TriggerSettings:
    contacts_threshold: int = 3  # customer-initiated contacts on one ticket (the first call counts)
    reopen_threshold: int = 2  # reopen_count at which every further reopen escalates
    anxious_views: int = 5  # progress views by the customer within the last hour
    staff_calendar: str = "cn-business"  # working hours of the people notified (L0-L2)
    signal_pending_seconds: int = 3600  # a signal whose ticket never reached the clocks expires then


async def _execute(session: AsyncSession, sql: str, params: Mapping[str, Any]) -> Any:
    return await (await session.connection()).execute(text(sql), params)


async def wake_timers(session: AsyncSession, step: str, at: datetime) -> None:
    """Tell every replica's timer (at commit) that the transaction stores a `step` deadline at
    `at`, so one sleeping past it wakes and one that knows its next deadline of that kind keeps
    the earlier of the two. Once per step and transaction unless the instant is earlier."""
    sent: dict[str, datetime] = session.info.setdefault(TIMER_CHANNEL, {})
    if step in sent and sent[step] <= at:
        return
    sent[step] = at
    await (await driver_connection(session)).execute("SELECT pg_notify($1, $2)", TIMER_CHANNEL,
                                                     f"{step} {at.isoformat()}")


def queued_notifications(session: AsyncSession) -> datetime | None:
    """The earliest delivery instant of the notifications this transaction queued (None: none)."""
    return session.info.get(_QUEUED)


_QUEUED = "kefu_escalation_notifications_from"


class Escalator:
    """Applies the trigger rules; see the module doc."""

    def __init__(self, settings: TriggerSettings | None = None, *, calendars: Any) -> None:
        self.settings = settings or TriggerSettings()
        self.calendars = calendars  # async (session, name) -> BusinessCalendar
        self._calendars: dict[str, tuple[float, BusinessCalendar]] = {}
        self._staff_gap: tuple[BusinessCalendar, datetime, datetime] | None = None  # (calendar, from, opening)

    # ------------------------------------------------------------------ core

    async def escalate(
        self, session: AsyncSession, ticket_id: uuid.UUID, *, cycle: int, trigger: str, key: str,
        at: datetime, reason: str, actor: str, to_level: str | None = None, steps: int = 1,
    ) -> tuple[Any | None, str]:
        """Escalate the ticket's `cycle` (at most once per `key`); returns (row, note): the new
        escalation and "", the earlier one of the same key and "duplicate", or None and why not."""
        state = (await _execute(session,
            "SELECT c.level, c.team, c.calendar, c.ack_seconds, e.id AS existing FROM escalation.clock_ticket c "
            "LEFT JOIN escalation.escalation e ON e.ticket_id = c.ticket_id AND e.cycle = :c AND e.trigger_key = :k "
            "WHERE c.ticket_id = :t FOR UPDATE OF c", {"t": ticket_id, "c": cycle, "k": key})).first()
        if state is None:
            return None, "no_clocks"
        if state.existing is not None:
            return await get_escalation(session, state.existing), "duplicate"  # already escalated this cycle
        current = state.level
        target = to_level or raise_level(current, steps)
        if not is_higher(target, current):
            await self.notify_many(session, [_no_higher_level(ticket_id, cycle, trigger, key, reason, current,
                                                              state.team, at)])
            return None, f"already at {current}"
        calendar = await self._ack_calendar(session, target, state.calendar)
        recorded = await self._record(session, [_planned(
            ticket_id, cycle, trigger, key, current, target, state.team, reason, actor, at, calendar,
            state.ack_seconds)])
        if not recorded:  # a concurrent transaction of another replica got there first
            return await list_by_key(session, ticket_id, cycle, key), "duplicate"
        row = recorded[0]
        await self.notify_many(session, _escalation_notices([row]))
        log.info("ticket_escalated", ticket_id=str(ticket_id), cycle=cycle, trigger=trigger,
                 from_level=current, to_level=target)
        return row, ""

    async def escalate_manually(self, session: AsyncSession, ticket_id: uuid.UUID, *, cycle: int,
                                request_id: str, reason: str, actor: str, to_level: str | None,
                                at: datetime) -> tuple[Any | None, str]:
        """The green channel (`EscalateTicket`): the requested level or +1, once per request."""
        return await self.escalate_for(session, ticket_id, manual.TRIGGER.name,
                                       manual.proposal(cycle, request_id, reason, actor, to_level), at=at)

    async def escalate_for(self, session: AsyncSession, ticket_id: uuid.UUID, trigger: str, proposal: Proposal, *,
                           at: datetime) -> tuple[Any | None, str]:
        """`escalate` what a trigger (by name, see kefu_escalation.escalations.triggers) proposes."""
        return await self.escalate(session, ticket_id, cycle=proposal.cycle, trigger=trigger, key=proposal.key,
                                   at=at, reason=proposal.reason, actor=proposal.actor,
                                   to_level=proposal.to_level, steps=proposal.steps)

    async def _fire(self, session: AsyncSession, occasion: Occasion) -> None:
        """Ask every trigger that reacts to this event change (the registry, in its order)."""
        for trigger in triggers.reacting_to(occasion.change):
            proposal = trigger.propose(occasion) if trigger.propose is not None else None
            if proposal is not None:
                await self.escalate_for(session, occasion.ticket_id, trigger.name, proposal, at=occasion.at)

    async def _record(self, session: AsyncSession, planned: Sequence[dict[str, Any]], *,
                      raise_levels: bool = True) -> list[Any]:
        """Insert escalations (each at most once per ticket, cycle and trigger key), raise the
        tickets' levels to the highest recorded (unless the caller does: `raise_levels=False`)
        and start the acknowledgement clocks; returns the rows inserted (a key another
        transaction recorded first is skipped)."""
        inserted = await store.insert(session, planned)
        for r in inserted:
            _escalations_counter(r.trigger, r.to_level).inc()
        top = _top_levels(inserted)
        if top and raise_levels:
            await clock_store.raise_levels(session, top)
        acks = [r.ack_due_at for r in inserted if r.ack_due_at is not None]
        if acks:
            await wake_timers(session, "acks", min(acks))
        return inserted

    async def notify(self, session: AsyncSession, ticket_id: uuid.UUID, *, kind: str, level: str,
                     at: datetime, key: str, payload: Mapping[str, Any],
                     escalation_id: uuid.UUID | None = None) -> None:
        """Queue one notification (once per `key`), held to working hours below L3."""
        await self.notify_many(session, [Notice(ticket_id, kind, level, at, key, payload, escalation_id)])

    async def notify_many(self, session: AsyncSession, notices: Sequence[Notice]) -> None:
        """Queue notifications in one statement (each once per key)."""
        if not notices:
            return
        staff = await self._calendar(session, self.settings.staff_calendar)
        deliver = self._deliver_times(staff, notices)
        first = min(deliver)
        if session.info.get(_QUEUED) is None or first < session.info[_QUEUED]:
            session.info[_QUEUED] = first
        await notifications.queue(session, [
            {"k": n.key[:240], "t": n.ticket_id, "e": n.escalation_id, "kind": n.kind, "level": n.level,
             "r": f"{PARTIES[n.level]}:{_team(n) or '*'}",
             "p": orjson.Fragment(_notice_body(n)), "at": n.at, "deliver": when}
            for n, when in zip(notices, deliver)])

    def _deliver_times(self, staff: BusinessCalendar, notices: Sequence[Notice]) -> list[datetime]:
        """Below L3 people are notified in their working hours; the crisis team at once. A
        batch's instants are close together: an instant inside the off-hours gap found last
        time maps to the same opening without walking the calendar again."""
        out = []
        for n in notices:
            if notified_at_once(n.level):
                out.append(n.at)
                continue
            gap = self._staff_gap
            if gap is not None and gap[0] is staff and gap[1] <= n.at < gap[2]:
                out.append(gap[2])
                continue
            opening = staff.next_working(n.at)
            if opening > n.at:
                self._staff_gap = (staff, n.at, opening)
            out.append(opening)
        return out

    async def timer_facts(self, session: AsyncSession, fired: Sequence[tuple[Any, ClockEvent]], *,
                          raise_levels: bool = True) -> dict[uuid.UUID, str]:
        """Warnings and breaches the timer just recorded, for many tickets in a few statements.

        `fired` pairs each event with its ticket's locked `clock_ticket` row (ticket_id, level,
        team, calendar, ack_seconds), in order. Same rules as `on_clock_events` + `escalate`:
        a warning notifies; a breach raises the level by one (or notifies at L3), once per
        trigger key (unique index), with an acknowledgement clock and a notification.

        Returns the level each escalated ticket reached; with `raise_levels=False` the caller
        stores it (the timer, in the one UPDATE that also stores the ticket's next deadline)."""
        notices: list[Notice] = []
        planned: list[dict[str, Any]] = []
        levels: dict[uuid.UUID, str] = {}
        calendars: dict[str, BusinessCalendar] = {}
        for row, e in fired:
            level = levels.get(row.ticket_id, row.level)
            if e.kind == "warned":
                notices.append(Notice(row.ticket_id, "warning", level, e.at,
                                      f"{row.ticket_id}:{e.cycle}:warned:{e.target}",
                                      {"cycle": e.cycle, "target": e.target, "warn_at": e.details.get("warn_at"),
                                       "team": row.team or ""}))
                continue
            if e.kind != "breached":
                continue
            key = breach.key(e.target)
            reason = breach.reason(e.target, e.details.get("due_at"))
            target = raise_level(level)
            if not is_higher(target, level):
                notices.append(_no_higher_level(row.ticket_id, e.cycle, breach.NAME, key, reason, level, row.team, e.at))
                continue
            ack_calendar = row.calendar if notified_at_once(target) else self.settings.staff_calendar
            calendar = calendars.get(ack_calendar)
            if calendar is None:
                calendar = calendars[ack_calendar] = await self._calendar(session, ack_calendar)
            planned.append(_planned(row.ticket_id, e.cycle, breach.NAME, key, level, target, row.team, reason,
                                    breach.ACTOR, e.at, calendar, row.ack_seconds))
            levels[row.ticket_id] = target
        reached: dict[uuid.UUID, str] = {}
        if planned:
            inserted = await self._record(session, planned, raise_levels=raise_levels)
            notices += _escalation_notices(inserted)
            reached = _top_levels(inserted)
            if inserted:
                log.info("tickets_escalated", trigger=breach.NAME, count=len(inserted))
        await self.notify_many(session, notices)
        return reached

    async def _ack_calendar(self, session: AsyncSession, level: str, ticket_calendar: str | None) -> BusinessCalendar:
        """The calendar an acknowledgement clock runs on: the one that governs its notification
        (issue #14.5), so the party is always told before its clock can run out. Below L3 the
        notification waits for the staff calendar's working hours and so does the clock; the
        crisis team (L3) is told at once and its clock runs on the ticket's SLA calendar."""
        return await self._calendar(session, ticket_calendar if notified_at_once(level) else
                                    self.settings.staff_calendar)

    async def _calendar(self, session: AsyncSession, name: str | None) -> BusinessCalendar:
        """A calendar by name, cached for CALENDAR_TTL_SECONDS (acknowledgement clocks and
        notification hours may lag a calendar edit by that much; cycles snapshot theirs)."""
        if not name:
            return BusinessCalendar.always()
        cached = self._calendars.get(name)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        calendar = await self.calendars(session, name)
        self._calendars[name] = (now + CALENDAR_TTL_SECONDS, calendar)
        return calendar

    # ------------------------------------------------------------------ inbox events

    async def on_inbox_event(self, session: AsyncSession, ticket_id: uuid.UUID, event: ticketing_pb2.Event,
                             at: datetime, cycle: int | None) -> None:
        """Keep the ticket's trigger state, then ask the triggers that react to the event
        (kefu_escalation.escalations.triggers, the registry)."""
        kind = event.WhichOneof("change")
        facts: dict[str, Any] = {}
        if kind == "created":
            created = event.created
            sla = created.sla
            severity = enum_to_str(types_pb2.Severity, created.severity)
            durations = {t.name: t.duration_seconds for t in sla.targets}
            await clock_store.set_created(
                session, ticket_id, matrix_tier=sla.matrix_tier or None, severity=severity, team=created.team,
                calendar=sla.calendar or "24x7", ack_seconds=durations.get("escalation_ack") or None,
                next_update_seconds=durations.get("next_update") or None,
                policy=f"{sla.policy_id} v{sla.policy_version}" if sla.policy_id else None)
            await self._fire(session, Occasion(ticket_id, event, kind, at, cycle, self.settings,
                                               {"severity": severity}))
            await self.apply_pending_signals(session, ticket_id, at)
            opened = from_timestamp(created.first_contact_at) if created.HasField("first_contact_at") else at
            await self._owe_update(session, ticket_id, opened)
            return
        action = event.status_changed.action if kind == "status_changed" else None
        if action in (Action.STATUS_ACTION_PENDING, Action.STATUS_ACTION_RESOLVED):
            await self._owe_update(session, ticket_id, None)  # the customer's turn / nothing owed
        elif action in (Action.STATUS_ACTION_RESUMED, Action.STATUS_ACTION_REOPENED):
            await self._owe_update(session, ticket_id, at)  # a fresh window from now
        if cycle is not None:
            facts = await self._keep_state(session, ticket_id, event, kind, action, at)
        await self._fire(session, Occasion(ticket_id, event, kind or "", at, cycle, self.settings, facts))

    async def _keep_state(self, session: AsyncSession, ticket_id: uuid.UUID, event: ticketing_pb2.Event,
                          kind: str | None, action: Any, at: datetime) -> dict[str, Any]:
        """What an event of an open cycle changes in the ticket's row; returns the facts the
        triggers read (``inbound_contacts`` after counting an inbound contact)."""
        if kind == "assigned":
            await clock_store.set_team(session, ticket_id, event.assigned.team)
        elif kind == "updated":
            changes = event.updated.changes
            if changes.HasField("severity") and changes.severity:
                await clock_store.set_severity(session, ticket_id, enum_to_str(types_pb2.Severity, changes.severity))
        elif kind == "progress_added":
            await self._owe_update(session, ticket_id, at)
        elif kind == "contact_logged" and event.contact_logged.direction == ticketing_pb2.CONTACT_DIRECTION_INBOUND:
            return {"inbound_contacts": await clock_store.count_inbound_contact(session, ticket_id)}
        elif action == Action.STATUS_ACTION_REOPENED:
            await clock_store.set_reopen_count(session, ticket_id, event.status_changed.reopen_count)
        return {}

    # ------------------------------------------------------------------ next update

    async def _owe_update(self, session: AsyncSession, ticket_id: uuid.UUID, since: datetime | None) -> None:
        """The next customer-visible progress entry is owed `next_update` business time after
        `since` (None: nothing is owed — pending on the customer, or resolved)."""
        row = (await _execute(session,
            "SELECT calendar, next_update_seconds FROM escalation.clock_ticket WHERE ticket_id = :t",
            {"t": ticket_id})).first()
        due = None
        if since is not None and row is not None and row.next_update_seconds:
            calendar = await self._calendar(session, row.calendar)
            due = calendar.add(since, timedelta(seconds=row.next_update_seconds))
        await clock_store.owe_update(session, ticket_id, due, since)
        if due is not None:
            await wake_timers(session, "updates", due)

    async def due_updates(self, session: AsyncSession, *, now: datetime, limit: int = 100) -> int:
        """Missed progress updates: the first missed window of a cycle escalates one level
        (`breach:next_update`); every later one notifies the current party. Nothing more fires
        until the next progress entry; the missed commitment stays visible (`next_update_by`)."""
        rows = (await _execute(session,
            "SELECT ticket_id, next_update_due, level, team FROM escalation.clock_ticket "
            "WHERE next_update_due <= :now ORDER BY next_update_due LIMIT :lim FOR UPDATE SKIP LOCKED",
            {"now": now, "lim": limit})).all()
        for r in rows:
            await clock_store.clear_update_due(session, r.ticket_id)
            cycle = await current_open_cycle(session, r.ticket_id)
            if cycle is None:
                continue
            reason = breach.next_update_reason(r.next_update_due)
            row, note = await self.escalate(session, r.ticket_id, cycle=cycle, trigger=breach.NAME,
                                            key=breach.NEXT_UPDATE_KEY, at=r.next_update_due, actor=breach.ACTOR,
                                            reason=reason)
            if note == "duplicate":  # escalated for an earlier window of this cycle: tell them again
                await self.notify(session, r.ticket_id, kind="next_update_missed", level=r.level,
                                  at=r.next_update_due,
                                  key=f"{r.ticket_id}:{cycle}:next_update:{r.next_update_due.isoformat()}",
                                  payload={"cycle": cycle, "reason": reason, "team": r.team or ""})
        return len(rows)

    # ------------------------------------------------------------------ clock events

    async def on_clock_events(self, session: AsyncSession, ticket_id: uuid.UUID,
                              events: list[ClockEvent], *, cycle_open: bool) -> None:
        """Warnings and breaches the projection recorded (a late answer's breach): the same
        rules as the timer's (`timer_facts`); a breach of a closed cycle escalates nothing."""
        for e in events:
            if e.kind == "reclassified" and cycle_open:
                await self._reclassified(session, ticket_id, e)
        facts = [e for e in events if e.kind == "warned" or (e.kind == "breached" and cycle_open)]
        if not facts:
            return
        row = (await _execute(session,
            "SELECT ticket_id, level, team, calendar, ack_seconds FROM escalation.clock_ticket "
            "WHERE ticket_id = :t FOR UPDATE", {"t": ticket_id})).first()
        if row is not None:
            await self.timer_facts(session, [(row, e) for e in facts])

    async def _reclassified(self, session: AsyncSession, ticket_id: uuid.UUID, e: ClockEvent) -> None:
        """What a reclassification changes besides the clocks (configuration/reclassify.py): a higher cell
        escalates (`matrix:<tier>/<severity>`, once per cell and cycle); shorter acknowledgement
        and next-update targets apply from now (the owed update is re-timed from its window's
        start, never before the change), longer ones loosen nothing."""
        sla = e.details.get("sla") or {}
        durations = {t.get("name"): t.get("duration_seconds") for t in sla.get("targets", ())}
        row = await clock_store.tighten_targets(
            session, ticket_id, matrix_tier=e.details.get("matrix_tier"),
            ack_seconds=durations.get("escalation_ack") or None,
            next_update_seconds=durations.get("next_update") or None)
        if row is None:
            return
        if row.next_update_due is not None and row.next_update_since is not None and row.next_update_seconds:
            calendar = await self._calendar(session, row.calendar)
            due = max(e.at, calendar.add(row.next_update_since, timedelta(seconds=row.next_update_seconds)))
            if due < row.next_update_due:
                await clock_store.set_update_due(session, ticket_id, due)
                await wake_timers(session, "updates", due)
        level = str(e.details.get("level") or "L0")
        if level in LEVELS and is_higher(level, row.level):
            await self.escalate_for(session, ticket_id, matrix.TRIGGER.name, matrix.reclassified(e.cycle, e.details),
                                    at=e.at)

    # ------------------------------------------------------------------ signals

    async def raise_signal(self, session: AsyncSession, *, signal_id: str, ticket_id: uuid.UUID, kind: str,
                           source: str, detail: str, conversation_id: str, occurred_at: datetime,
                           now: datetime) -> tuple[bool, Any | None, str]:
        """Store a risk signal once (by id) and apply it; returns (accepted, escalation, note)."""
        await _signals_turn(session, ticket_id)  # after a projection of its ticket.created commits
        inserted = await session.scalar(text(
            "INSERT INTO escalation.risk_signal (signal_id, ticket_id, kind, source, detail, "
            "conversation_id, occurred_at, received_at, status) VALUES (:id, :t, :k, :s, :d, :c, :o, :now, "
            "'pending') ON CONFLICT (signal_id) DO NOTHING RETURNING 1"),
            {"id": signal_id, "t": ticket_id, "k": kind, "s": source, "d": detail, "c": conversation_id,
             "o": occurred_at, "now": now})
        if inserted is None:
            stored = (await _execute(session,
                "SELECT s.ticket_id, s.kind, s.source, s.detail, s.conversation_id, s.occurred_at, "
                "s.note, s.status FROM escalation.risk_signal s WHERE s.signal_id = :id", {"id": signal_id})).one()
            if (stored.ticket_id, stored.kind, stored.source, stored.detail, stored.conversation_id) != (
                    ticket_id, kind, source, detail, conversation_id):
                raise AlreadyExists(f"signal {signal_id!r} was raised before with other content",
                                    code="idempotency_key_reused")
            row = (await _execute(session,
                f"SELECT {COLUMNS} FROM escalation.escalation WHERE id = "
                "(SELECT escalation_id FROM escalation.risk_signal WHERE signal_id = :id)",
                {"id": signal_id})).first()
            return False, row, stored.note
        row, note = await self._apply_signal(session, signal_id, ticket_id, kind, source, detail, now,
                                             conversation_id=conversation_id)
        return True, row, note

    async def expire_signals(self, session: AsyncSession, *, now: datetime, limit: int = 100) -> int:
        """Give waiting signals a terminal state (issue #14.23): one still `pending` after
        `signal_pending_seconds` names a ticket the clocks never saw (it does not exist, or
        predates them) and becomes `expired` (note `ticket_never_seen`); never applied later."""
        cutoff = now - timedelta(seconds=self.settings.signal_pending_seconds)
        expired = (await _execute(session,
            "UPDATE escalation.risk_signal SET status = 'expired', note = 'ticket_never_seen' WHERE signal_id IN "
            "(SELECT signal_id FROM escalation.risk_signal WHERE status = 'pending' AND received_at <= :cutoff "
            "ORDER BY received_at LIMIT :lim FOR UPDATE SKIP LOCKED) RETURNING signal_id, ticket_id, kind",
            {"cutoff": cutoff, "lim": limit})).all()
        for r in expired:
            log.warning("risk_signal_expired", signal_id=r.signal_id, ticket_id=str(r.ticket_id), kind=r.kind)
        return len(expired)

    async def apply_pending_signals(self, session: AsyncSession, ticket_id: uuid.UUID, now: datetime) -> None:
        await _signals_turn(session, ticket_id)  # a RaiseSignal that saw no clocks has committed its row
        pending = (await _execute(session,
            "SELECT signal_id, kind, source, detail, conversation_id FROM escalation.risk_signal "
            "WHERE ticket_id = :t AND status = 'pending' ORDER BY received_at FOR UPDATE",
            {"t": ticket_id})).all()
        for p in sorted(pending, key=lambda p: p.kind not in CRISIS_SIGNALS):  # the strongest risk first
            await self._apply_signal(session, p.signal_id, ticket_id, p.kind, p.source, p.detail, now,
                                     conversation_id=p.conversation_id)

    async def _apply_signal(self, session: AsyncSession, signal_id: str, ticket_id: uuid.UUID, kind: str,
                            source: str, detail: str, now: datetime, *,
                            conversation_id: str = "") -> tuple[Any | None, str]:
        """Escalate the open cycle for a signal: at most once per kind (`risk_signal:<kind>`),
        and at most once per conversation (issue #13): one threat in a call is also a strongly
        negative turn and a predicted detractor, three kinds of one risk. A later signal of a
        conversation that already escalated this cycle is applied to that escalation (note
        `same_conversation_escalated`), unless it is a crisis (regulator, media, legal) and the
        earlier one did not reach L3. Callers hold the ticket's signal lock (`_signals_turn`)."""
        cycle = await current_open_cycle(session, ticket_id)
        if cycle is None:
            known = await session.scalar(text("SELECT 1 FROM escalation.clock_ticket WHERE ticket_id = :t"),
                                         {"t": ticket_id})
            note = "no_open_cycle" if known else "clocks_not_known_yet"
            if known:
                await _execute(session, "UPDATE escalation.risk_signal SET status = 'applied', note = :n "
                               "WHERE signal_id = :id", {"n": note, "id": signal_id})
            else:
                await _execute(session, "UPDATE escalation.risk_signal SET note = :n WHERE signal_id = :id",
                               {"n": note, "id": signal_id})
            return None, note
        earlier = await _conversation_escalation(session, ticket_id, cycle, conversation_id, signal_id)
        if earlier is not None and (kind not in CRISIS_SIGNALS or earlier.to_level == "L3"):
            await _execute(session,
                "UPDATE escalation.risk_signal SET status = 'applied', escalation_id = :e, note = :n "
                "WHERE signal_id = :id", {"e": earlier.id, "n": SAME_CONVERSATION, "id": signal_id})
            return earlier, SAME_CONVERSATION
        row, note = await self.escalate_for(session, ticket_id, risk_signal.TRIGGER.name,
                                            risk_signal.proposal(cycle, kind, source, detail), at=now)
        await _execute(session,
            "UPDATE escalation.risk_signal SET status = 'applied', escalation_id = :e, note = :n "
            "WHERE signal_id = :id", {"e": row.id if row is not None else None, "n": note, "id": signal_id})
        return row, note

    # ------------------------------------------------------------------ acknowledgement

    async def due_acks(self, session: AsyncSession, *, now: datetime, limit: int = 100) -> int:
        """Mark unacknowledged escalations whose ack clock ran out and escalate again."""
        rows = (await _execute(session,
            f"SELECT {COLUMNS} FROM escalation.escalation WHERE status = 'open' AND ack_due_at <= :now "
            "ORDER BY ack_due_at LIMIT :lim FOR UPDATE SKIP LOCKED", {"now": now, "lim": limit})).all()
        for r in rows:
            await store.mark_ack_breached(session, r.id)
            if await current_open_cycle(session, r.ticket_id) != r.cycle:
                continue  # resolved meanwhile: nobody left to chase
            await self.escalate_for(session, r.ticket_id, ack_timeout.TRIGGER.name,
                                    ack_timeout.proposal(r, raise_level(r.to_level)), at=r.ack_due_at)
        return len(rows)

    async def acknowledge(self, session: AsyncSession, escalation_id: uuid.UUID, *, actor: str,
                          role: str, now: datetime) -> Any | None:
        """Acknowledge (idempotent); a late acknowledgement is recorded but keeps ack_breached.
        Only the party escalated to (`may_acknowledge`) may; None when there is no such escalation."""
        row = await get_escalation(session, escalation_id)
        if row is None:
            return None
        if not may_acknowledge(role, row.to_level):
            raise PermissionDenied(
                f"only the {row.to_party} ({row.to_level}) or above, or an admin, may acknowledge this "
                f"escalation; the role {role or 'none'!r} may not", code=NOT_ESCALATED_PARTY)
        await store.record_acknowledgement(session, escalation_id, actor=actor, now=now)
        return await get_escalation(session, escalation_id)


# ------------------------------------------------------------------------------ helpers


SAME_CONVERSATION = "same_conversation_escalated"


async def _conversation_escalation(session: AsyncSession, ticket_id: uuid.UUID, cycle: int,
                                   conversation_id: str, signal_id: str) -> Any | None:
    """The escalation of `cycle` an earlier signal of this conversation raised, if any."""
    if not conversation_id:
        return None
    return (await _execute(session,
        f"SELECT {', '.join('e.' + c for c in COLUMNS.split(', '))} FROM escalation.risk_signal s "
        "JOIN escalation.escalation e ON e.id = s.escalation_id "
        "WHERE s.ticket_id = :t AND s.conversation_id = :c AND s.signal_id <> :id AND e.cycle = :cy "
        "ORDER BY e.created_at LIMIT 1",
        {"t": ticket_id, "c": conversation_id, "id": signal_id, "cy": cycle})).first()


async def _signals_turn(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """RaiseSignal and the projection of the ticket's creation take turns per ticket (held to
    commit): otherwise a signal that finds no clocks (the projection not committed yet) is left
    pending while the projection has already looked for pending signals — lost."""
    await _execute(session, "SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))",
                   {"k": f"escalation.risk_signal/{ticket_id}"})


def _top_levels(rows: Sequence[Any]) -> dict[uuid.UUID, str]:
    """The highest level each ticket reached among these escalation rows."""
    top: dict[uuid.UUID, str] = {}
    for r in rows:
        top[r.ticket_id] = max(top.get(r.ticket_id, r.to_level), r.to_level)
    return top


@lru_cache(maxsize=256)
def _escalations_counter(trigger: str, level: str) -> Any:
    return ESCALATIONS.labels(trigger, level)


def _notice_body(n: Notice) -> bytes:
    """A notification's body as JSON; values JSON has no type for (datetimes, UUIDs) as their
    str(), as json.dumps(default=str) wrote them."""
    return orjson.dumps({"ticket_id": str(n.ticket_id), **n.payload}, default=str,
                        option=orjson.OPT_PASSTHROUGH_DATETIME)


def _planned(ticket_id: uuid.UUID, cycle: int, trigger: str, key: str, from_level: str, to_level: str,
             team: str | None, reason: str, actor: str, at: datetime, calendar: BusinessCalendar,
             ack_seconds: int | None) -> dict[str, Any]:
    """One escalation to record (`Escalator._record`), its acknowledgement clock in `calendar`."""
    return {"id": uuid.uuid4(), "t": ticket_id, "c": cycle, "trigger": trigger, "key": key,
            "from": from_level, "to": to_level, "party": PARTIES[to_level], "team": team or "",
            "reason": reason[:1000], "actor": actor[:128], "at": at, "cal": calendar.name,
            "ack": calendar.add(at, timedelta(seconds=ack_seconds)) if ack_seconds else None}


def _no_higher_level(ticket_id: uuid.UUID, cycle: int, trigger: str, key: str, reason: str, level: str,
                     team: str | None, at: datetime) -> Notice:
    """A trigger that found the ticket already at (or above) the level it would reach: the
    current party is told instead (once per trigger key)."""
    return Notice(ticket_id, trigger, level, at, f"{ticket_id}:{cycle}:{key}:notify",
                  {"trigger": trigger, "trigger_key": key, "reason": reason, "cycle": cycle, "level": level,
                   "team": team or ""})


def _escalation_notices(rows: Sequence[Any]) -> list[Notice]:
    return [Notice(r.ticket_id, "escalation", r.to_level, r.created_at, f"escalation:{r.id}",
                   escalation_payload(r), r.id) for r in rows]


def _team(n: Notice) -> Any:
    """The team a notification goes to (its payload's ``team``; None when it names none)."""
    return n.payload["team"] if "team" in n.payload else None
