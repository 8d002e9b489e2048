"""Persisted SLA clocks: the inbox of ticketing events projected into clock events.

`ClockProjector.project` reads `escalation.ticket_event` (the inbox, filled exactly once and
in stream order by consumer.py) from its cursor, translates each event into commands of the
pure model in clocks/model.py, appends the returned `ClockEvent`s to `escalation.clock_event`
and advances its cursor, all in the caller's one transaction. `ClockProjector.due_ticks` is
the timer: it fires the warnings and breaches whose instant has come. State is never stored
besides the events: a ticket's clocks are `TicketClocks.replay` of its rows, so a restart
(or another replica) continues exactly where the last commit left off.

Translation (DOMAIN.md §2):

* ``ticket.created`` opens cycle 1 at the payload's ``first_contact_at`` with the targets of
  its ``sla`` snapshot: ``first_response`` (keeps running while pending) and ``resolution``
  (pauses while pending), warning at the policy's ``warning_percent`` (75 when unknown), in
  the calendar the snapshot names (loaded from ``escalation.calendar``).
* ``ticket.status_changed``: ``pending`` pauses, ``resumed`` resumes, ``resolved`` stops the
  cycle, ``reopened`` opens the next cycle with fresh targets from the ticket's ``sla``
  snapshot (its latest ``ticket.created`` event); ``opened`` and ``closed`` change nothing.
* ``ticket.progress_added`` and an *outbound* ``ticket.contact_logged`` satisfy
  ``first_response`` if it is still running. Inbound contacts change nothing (they never
  restart or extend a clock); every other event type is ignored.

Once-only guarantees:

* Projection runs under a row lock on its cursor, so replicas take turns (one that finds the
  lock taken skips its projection pass: the holder is projecting those rows); each ticket also
  keeps the last inbox sequence it absorbed (``clock_ticket.last_sequence``), so replaying
  old inbox rows (an explicit ``after_sequence``, a reset cursor) stores nothing twice.
* The timer locks ``clock_ticket`` rows with ``FOR UPDATE SKIP LOCKED`` (a ticket being
  projected or ticked by another replica is skipped, never waited for), and the partial
  unique index on (ticket, cycle, target, kind) for warned/breached is the last guard.
* Warnings and breaches are recorded *at their instant* (the deadline the model computes),
  not at the timer's wall-clock time, so a late timer records the same facts and every
  replica computes identical rows. The timer only ticks tickets whose inbox events have all
  been projected, so a breach is never decided before a first response already in the inbox.

Time: the model refuses events earlier than its history. An inbox event whose time lies
before the ticket's last clock event (the timer recorded a breach before a late-arriving
response reached the inbox) is applied at the last event's instant: the answer counts as
given then, i.e. late. Events the rules refuse (`ClockError`, e.g. a status change of a ticket
created before clocks existed) are logged and skipped so one bad event cannot stop the stream.

* ``ticket.updated`` with a ``classification`` (severity or customer tier changed) re-resolves
  the matrix (configuration/reclassify.py): the open cycle's targets tighten, never loosen (one
  ``reclassified`` event), and the new cell's snapshot is kept for the next cycle
  (``clock_ticket.sla``: a reopen takes it instead of the creation snapshot).

``next_update`` and ``escalation_ack`` are not clock events (escalations/escalator.py keeps them).
"""

from __future__ import annotations

import json
import uuid
from functools import lru_cache
from types import MappingProxyType
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.clock import Clock
from kefu_common.db import driver_connection, json_param
from kefu_common.errors import ServiceError
from kefu_common.logging import get_logger
from kefu_common.metrics import SLA_CLOCK_FACTS, SLA_TIMER_LAG_SECONDS
from kefu_common.protoconv import enum_to_str, from_timestamp
from kefu_common.ticket_events import sla_json
from kefu_escalation import cursors
from kefu_escalation.clocks import store as clock_store
from kefu_escalation.configuration.calendars import BusinessCalendar
from kefu_escalation.escalations.escalator import Escalator, wake_timers
from kefu_escalation.models import SlaPolicy
from kefu_escalation.configuration.reclassify import reclassified_sla, snapshot
from kefu_escalation.configuration.service import compile_calendar, load_calendar
from kefu_escalation.clocks.model import ClockError, ClockEvent, Outcome, SlaCycle, Target, TargetClock, TicketClocks

log = get_logger("kefu.escalation.clocks")

__all__ = [
    "PROJECTION_CURSOR",
    "CalendarLoader",
    "ClockProjector",
    "calendar_to_spec",
    "decode_details",
    "decode_state",
    "encode_calendar",
    "encode_details",
    "encode_state",
    "load_ticket_clocks",
    "snapshot_targets",
]

PROJECTION_CURSOR = "sla-clock-projection"
DEFAULT_WARNING_PERCENT = 75
# target name -> pauses while the ticket is pending_customer
SNAPSHOT_TARGETS = {"first_response": False, "resolution": True}

CalendarLoader = Callable[[AsyncSession, str], Awaitable[BusinessCalendar]]
Action = ticketing_pb2.StatusAction

# ------------------------------------------------------------------------------ JSON


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MIDNIGHT = time(0)


def _interval(start: time, end: time) -> str:
    return f"{start.isoformat()}-{'24:00:00' if end == _MIDNIGHT else end.isoformat()}"


def calendar_to_spec(cal: BusinessCalendar) -> dict[str, Any]:
    """The plain-data spec `BusinessCalendar.from_spec` reads back to an equal calendar."""
    return {
        "name": cal.name,
        "tz": cal.tz,
        "weekly": {_WEEKDAYS[wd]: [_interval(s, e) for s, e in cal.weekly[wd]] for wd in range(7)},
        "holidays": sorted(d.isoformat() for d in cal.holidays),
        "extra_workdays": {
            d.isoformat(): [_interval(s, e) for s, e in cal.extra_workdays[d]]
            for d in sorted(cal.extra_workdays)
        },
    }


def _seconds(value: timedelta) -> int | float:
    whole, micro = divmod(value, timedelta(seconds=1))
    return whole if not micro else value.total_seconds()


def _target_to_json(t: Target) -> dict[str, Any]:
    out = {"name": t.name, "duration_seconds": _seconds(t.duration),
           "pauses_when_pending": t.pauses_when_pending, "warning_percent": t.warning_percent}
    if t.warning_before is not None:
        out["warning_before_seconds"] = _seconds(t.warning_before)
    return out


def _target_from_json(d: Mapping[str, Any]) -> Target:
    before = d.get("warning_before_seconds")
    return Target(d["name"], timedelta(seconds=d["duration_seconds"]),
                  pauses_when_pending=bool(d["pauses_when_pending"]),
                  warning_percent=int(d["warning_percent"]),
                  warning_before=timedelta(seconds=before) if before else None)


_DATETIME_KEYS = frozenset({"due_at", "warn_at"})
_TIMEDELTA_KEYS = frozenset({"used", "remaining", "overrun", "late_by", "margin"})


def encode_details(kind: str, details: Mapping[str, Any]) -> dict[str, Any]:
    """ClockEvent details as JSON-able data: calendars as specs, targets as dicts,
    datetimes as ISO strings, durations as seconds."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        if key == "calendar" and isinstance(value, BusinessCalendar):
            out[key] = calendar_to_spec(value)
        elif key == "definition" and isinstance(value, Target):
            out[key] = _target_to_json(value)
        elif key == "targets":  # cycle_opened: Targets; paused/resumed: target names
            out[key] = [_target_to_json(t) if isinstance(t, Target) else t for t in value]
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, timedelta):
            out[key] = _seconds(value)
        elif isinstance(value, Mapping):
            out[key] = dict(value)
        else:
            out[key] = value
    return out


def decode_details(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of `encode_details` (what `TicketClocks.replay` needs to fold)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "calendar" and isinstance(value, Mapping):
            out[key] = compile_calendar(value)
        elif key == "definition":
            out[key] = _target_from_json(value)
        elif key == "targets":
            out[key] = tuple(_target_from_json(t) if isinstance(t, Mapping) else t for t in value)
        elif key in _DATETIME_KEYS:
            out[key] = None if value is None else datetime.fromisoformat(value)
        elif key in _TIMEDELTA_KEYS:
            out[key] = None if value is None else timedelta(seconds=value)
        else:
            out[key] = value
    return out


# ------------------------------------------------------------------------------ state snapshot
#
# `clock_ticket.clock_state` holds the fold state of the ticket's current cycle as of its last
# clock event, written in the same transaction as the events (projection and timer), so the
# timer restores it (`decode_state`) instead of replaying and validating the history. The
# events stay the source of truth: the audit, the SLA view and the projection replay them, and
# a snapshot that is missing (rows from before migration 0008) or of another STATE_VERSION is
# rebuilt from a replay on first use. Durations are integer microseconds (exact), instants
# ISO 8601. The cycle's calendar (its own snapshot, as cycle_opened carries it) is kept apart
# in `clock_ticket.clock_calendar` (`encode_calendar`): it changes only when a cycle opens.

STATE_VERSION = 1
_US = timedelta(microseconds=1)
_calendar_specs: dict[int, tuple[BusinessCalendar, str]] = {}


def _calendar_json(cal: BusinessCalendar) -> str:
    """The calendar's spec as JSON text, encoded once per calendar object (cycles of one policy
    share one compiled calendar)."""
    cached = _calendar_specs.get(id(cal))
    if cached is None or cached[0] is not cal:
        if len(_calendar_specs) >= 256:
            _calendar_specs.clear()
        cached = _calendar_specs[id(cal)] = (cal, json_param(calendar_to_spec(cal)))
    return cached[1]


def _us(value: timedelta) -> int:
    return value // _US


def _outcome_to_json(o: Outcome) -> dict[str, Any]:
    return {"result": o.result, "reason": o.reason, "finished_at": o.finished_at, "used": _us(o.used),
            "due_at": o.due_at, "overrun": _us(o.overrun), "late_by": _us(o.late_by), "margin": _us(o.margin)}


def _outcome_from_json(name: str, d: Mapping[str, Any]) -> Outcome:
    return Outcome(name, d["result"], d["reason"], _instant(d["finished_at"]), timedelta(microseconds=d["used"]),
                   _instant(d["due_at"]), timedelta(microseconds=d["overrun"]),
                   timedelta(microseconds=d["late_by"]), timedelta(microseconds=d["margin"]))


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def encode_calendar(clocks: TicketClocks) -> str | None:
    """The current cycle's calendar spec as JSON text (None: no cycle yet)."""
    cycle = clocks.current
    return None if cycle is None else _calendar_json(cycle.calendar)


def encode_state(clocks: TicketClocks) -> str | None:
    """The current cycle's fold state as JSON text, its calendar apart (None: no cycle yet)."""
    cycle = clocks.current
    if cycle is None:
        return None
    return orjson.dumps({
        "v": STATE_VERSION, "cycle": cycle.number, "opened_at": cycle.opened_at, "last_at": clocks.last_at,
        "pending": cycle.pending, "stopped_at": cycle.stopped_at,
        "targets": [_target_json(t) for t in cycle.targets],
        "clocks": [[c.target.name, _target_json(c.target), c.started_at, c.running_since, _us(c.used),
                    c.due_crossed, c.warn_crossed, c.warned, c.breached,
                    None if c.outcome is None else _outcome_to_json(c.outcome)]
                   for c in cycle.clocks.values()],
    }).decode()


def _target_json(t: Target) -> tuple[Any, ...]:
    return (t.name, _us(t.duration), t.pauses_when_pending, t.warning_percent,
            None if t.warning_before is None else _us(t.warning_before))


@lru_cache(maxsize=1024)
def _target_of(name: str, duration: int, pauses: bool, warning_percent: int, before: int | None) -> Target:
    return Target(name, timedelta(microseconds=duration), pauses_when_pending=pauses,
                  warning_percent=warning_percent,
                  warning_before=None if before is None else timedelta(microseconds=before))


@lru_cache(maxsize=256)
def _state_calendar(raw: str) -> BusinessCalendar:
    return compile_calendar(orjson.loads(raw))


def decode_state(state: str | None, calendar: str | None) -> TicketClocks | None:
    """The ticket's clocks restored from `encode_state` and `encode_calendar` text (equal
    calendar specs are decoded once); None when there is no snapshot of this STATE_VERSION
    (the caller replays the history instead)."""
    if state is None or calendar is None:
        return None
    d = orjson.loads(state)
    if d.get("v") != STATE_VERSION:
        return None
    cal = _state_calendar(calendar)
    clocks = {}
    for name, definition, started, running, used, due, warn, warned, breached, outcome in d["clocks"]:
        clocks[name] = TargetClock(
            _target_of(*definition), datetime.fromisoformat(started), _instant(running),
            timedelta(microseconds=used), _instant(due), _instant(warn), warned, breached,
            None if outcome is None else _outcome_from_json(name, outcome))
    cycle = SlaCycle.restore(d["cycle"], datetime.fromisoformat(d["opened_at"]), cal,
                             tuple(_target_of(*t) for t in d["targets"]),
                             pending=d["pending"], stopped_at=_instant(d["stopped_at"]), clocks=clocks)
    return TicketClocks.restore(cycle, datetime.fromisoformat(d["last_at"]))


# ------------------------------------------------------------------------------ storage


async def load_ticket_clocks(session: AsyncSession, ticket_id: uuid.UUID) -> TicketClocks:
    """Replay one ticket's persisted clock history."""
    return (await load_many_ticket_clocks(session, [ticket_id]))[ticket_id]


async def load_many_ticket_clocks(session: AsyncSession,
                                  ticket_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, TicketClocks]:
    """Replay several tickets' histories, read in one query."""
    rows = await _execute(session,
        text("SELECT ticket_id, kind, cycle, at, target, CAST(details AS text) AS details "
             "FROM escalation.clock_event WHERE ticket_id = ANY(:t) ORDER BY ticket_id, id"),
        {"t": list(ticket_ids)},
    )
    events: dict[uuid.UUID, list[ClockEvent]] = {t: [] for t in ticket_ids}
    for r in rows:
        events[r.ticket_id].append(ClockEvent(r.kind, r.cycle, r.at, r.target, _decoded(r.kind, r.details)))
    return {t: TicketClocks.replay(e) for t, e in events.items()}


@lru_cache(maxsize=4096)
def _decoded_shared(kind: str, raw: str) -> Mapping[str, Any]:
    return MappingProxyType(decode_details(kind, json.loads(raw)))


def _decoded(kind: str, raw: str) -> Mapping[str, Any]:
    """Decoded details, once per distinct text for the kinds whose details repeat across
    tickets (every cycle opened under one policy carries the same calendar and targets)."""
    if kind == "cycle_opened":
        return _decoded_shared(kind, raw)
    return decode_details(kind, json.loads(raw))


async def _insert_many(session: AsyncSession,
                       events: Sequence[tuple[uuid.UUID, ClockEvent, int | None]]) -> int:
    """Append clock events of many tickets in one statement, in order (ticket, event, inbox
    sequence it came from or None for the timer); returns how many were stored (a
    warned/breached event another replica stored first is skipped by the unique index)."""
    if not events:
        return 0
    rows = json_param([{"t": t, "c": e.cycle, "k": e.kind, "target": e.target, "at": e.at,
                        "d": encode_details(e.kind, e.details), "s": source} for t, e, source in events])
    return len(await (await driver_connection(session)).fetch(_INSERT_EVENTS, rows))


# Batches travel as one JSON array (orjson, in C) rather than one array parameter per column:
# asyncpg's per-element array encoding cost more CPU than everything else in the statement.
_INSERT_EVENTS = (
    "INSERT INTO escalation.clock_event (ticket_id, cycle, kind, target, at, details, source_sequence) "
    "SELECT * FROM jsonb_to_recordset($1::jsonb) AS v(t uuid, c int, k text, target text, at timestamptz, "
    "d jsonb, s bigint) ON CONFLICT (ticket_id, cycle, coalesce(target, ''), kind) "
    "WHERE kind IN ('warned', 'breached') DO NOTHING RETURNING 1"
)


async def _save_tickets(session: AsyncSession, saved: Mapping[uuid.UUID, tuple[TicketClocks, int]],
                        now: datetime) -> None:
    """Upsert the clock rows of the tickets a projection batch touched (how far it got for each,
    the next deadline, the state snapshot), in one statement."""
    if not saved:
        return
    deadlines = [clocks.next_deadline() for clocks, _ in saved.values()]
    await clock_store.save_projected(
        session, list(saved), [seq for _, seq in saved.values()], deadlines,
        [encode_state(clocks) for clocks, _ in saved.values()],
        [encode_calendar(clocks) for clocks, _ in saved.values()], now)
    known = [d for d in deadlines if d is not None]
    if known:
        await wake_timers(session, "ticks", min(known))  # another replica may be sleeping past it


async def _execute(session: AsyncSession, statement: Any, params: Mapping[str, Any]) -> Any:
    """Plain SQL on the session's connection (its transaction)."""
    conn = await session.connection()
    return await conn.execute(statement, params)


def _json(value: Any) -> Any:
    """jsonb from a textual query arrives as a string with asyncpg."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _at(message: Any, field: str) -> datetime | None:
    """A timestamp field of a message (None when unset)."""
    return from_timestamp(getattr(message, field)) if message.HasField(field) else None


async def snapshot_targets(session: AsyncSession, sla: Mapping[str, Any],
                           calendars: CalendarLoader) -> tuple[BusinessCalendar, list[Target]]:
    """The calendar and clock targets of an SLA snapshot (the `sla` of `ticket.created`: what
    ResolveSla answered), warning thresholds from the policy version it names."""
    calendar = await calendars(session, str(sla.get("calendar") or "24x7"))
    warning, before = DEFAULT_WARNING_PERCENT, None
    if sla.get("policy_id") and sla.get("policy_version") is not None:
        policy = await session.get(SlaPolicy, (sla["policy_id"], int(sla["policy_version"])))
        if policy is not None:
            warning = policy.warning_percent
            before = timedelta(seconds=policy.warning_before_seconds) if policy.warning_before_seconds else None
    targets = [
        Target(t["name"], timedelta(seconds=t["duration_seconds"]),
               pauses_when_pending=SNAPSHOT_TARGETS[t["name"]], warning_percent=warning,
               warning_before=before)
        for t in sla.get("targets", ())
        if t.get("name") in SNAPSHOT_TARGETS and t.get("duration_seconds")
    ]
    return calendar, targets


# ------------------------------------------------------------------------------ projector


class ClockProjector:
    """Projects the inbox into clock events and fires due warnings/breaches.

    Stateless between calls (all state is in the database), so any number of instances
    (restarts, replicas) may run; see the module doc for the once-only guarantees.
    """

    def __init__(self, *, calendars: CalendarLoader | None = None,
                 cursor: str = PROJECTION_CURSOR, escalator: Escalator | None = None) -> None:
        self.calendars: CalendarLoader = calendars or load_calendar
        self.cursor = cursor
        self.escalator = escalator or Escalator(calendars=self.calendars)

    # -------------------------------------------------------------- projection

    async def _lock_cursor(self, session: AsyncSession, now: datetime, *, wait: bool) -> int | None:
        """The cursor, locked for this transaction; None when another replica holds it (it is
        projecting right now) and `wait` is false."""
        await cursors.ensure(session, self.cursor, now)
        value = await session.scalar(
            text("SELECT last_sequence FROM escalation.consumer_cursor WHERE name = :n FOR UPDATE"
                 + ("" if wait else " SKIP LOCKED")),
            {"n": self.cursor},
        )
        return None if value is None else int(value)

    async def project(self, session: AsyncSession, *, after_sequence: int | None = None,
                      limit: int = 100, clock: Clock) -> int:
        """Project up to `limit` inbox events after `after_sequence` (default: the cursor);
        returns how many inbox events were read. The caller's transaction commits it all."""
        now = clock.now()
        # From the cursor: a replica that finds another one projecting leaves the batch to it
        # (and goes on to its due timers) instead of queueing behind it for the same rows.
        cursor = await self._lock_cursor(session, now, wait=after_sequence is not None)
        if cursor is None:
            return 0
        start = cursor if after_sequence is None else after_sequence
        rows = (await _execute(session,
            text("SELECT sequence, event_type, ticket_id, body, occurred_at "
                 "FROM escalation.ticket_event WHERE sequence > :after ORDER BY sequence LIMIT :lim"),
            {"after": start, "lim": limit},
        )).all()
        events_of = {r.sequence: ticketing_pb2.Event.FromString(r.body) for r in rows}
        ids = list(dict.fromkeys(r.ticket_id for r in rows))
        locked = (await _execute(session,  # in ticket order, so two projections never deadlock
            text("SELECT ticket_id, last_sequence, CAST(sla AS text) AS sla FROM escalation.clock_ticket "
                 "WHERE ticket_id = ANY(:t) ORDER BY ticket_id FOR UPDATE"), {"t": ids})).all()
        # The SLA snapshot each ticket's next cycle gets (None: its ticket.created's), as
        # reclassifications in this batch leave it; the changed ones are stored below.
        snapshots: dict[uuid.UUID, Any] = {r.ticket_id: _json(r.sla) for r in locked if r.sla is not None}
        reclassified: set[uuid.UUID] = set()
        histories = await load_many_ticket_clocks(session, [r.ticket_id for r in locked])
        tickets: dict[uuid.UUID, tuple[TicketClocks, int]] = {
            r.ticket_id: (histories[r.ticket_id], int(r.last_sequence)) for r in locked}
        saved: dict[uuid.UUID, tuple[TicketClocks, int]] = {}
        appended: list[tuple[uuid.UUID, ClockEvent, int | None]] = []
        hooks: list[tuple[Any, int | None, list[ClockEvent], bool]] = []
        last = start
        for row in rows:
            last = row.sequence
            state = tickets.get(row.ticket_id)
            clocks, absorbed = state if state is not None else (TicketClocks(), 0)
            if row.sequence <= absorbed:
                continue  # already projected (an explicit replay of old inbox rows)
            if state is None and row.event_type != "ticket.created":
                continue  # no clocks for this ticket (created before clocks were projected)
            try:
                events = await self._translate(session, clocks, row, events_of[row.sequence], snapshots,
                                               reclassified)
            except ClockError as err:
                log.warning("clock_event_skipped", sequence=row.sequence, type=row.event_type,
                            ticket_id=str(row.ticket_id), error=str(err))
                events = []
            if events:
                appended += [(row.ticket_id, e, row.sequence) for e in events]
                clocks = clocks.append(events)
            tickets[row.ticket_id] = saved[row.ticket_id] = (clocks, row.sequence)
            if clocks.current is not None:
                cycle_open = clocks.current.is_open
                hooks.append((row, clocks.current.number if cycle_open else None, events, cycle_open))
        await _insert_many(session, appended)
        await _save_tickets(session, saved, now)
        if reclassified:
            await clock_store.set_next_cycle_sla(
                session, {t: json.dumps(snapshots[t], default=str) for t in reclassified})
        for row, cycle, events, cycle_open in hooks:  # triggers, in stream order
            await self.escalator.on_inbox_event(
                session, row.ticket_id, events_of[row.sequence], row.occurred_at, cycle)
            if events:
                await self.escalator.on_clock_events(session, row.ticket_id, events, cycle_open=cycle_open)
        if rows and last > cursor:
            await cursors.move_to(session, self.cursor, last, now)
        return len(rows)

    async def _targets(self, session: AsyncSession, sla: Mapping[str, Any]) -> tuple[BusinessCalendar, list[Target]]:
        return await snapshot_targets(session, sla, self.calendars)

    async def _translate(self, session: AsyncSession, clocks: TicketClocks, row: Any,
                         event: ticketing_pb2.Event, snapshots: dict[uuid.UUID, Any],
                         reclassified: set[uuid.UUID]) -> list[ClockEvent]:
        """Clock events of one inbox row (`event`, its typed body); `snapshots` (a reopen's SLA
        snapshot per ticket) and `reclassified` (whose snapshot changed) are the projection
        batch's, stored after it."""
        kind = event.WhichOneof("change")

        def when(value: datetime | None = None) -> datetime:
            at = value or row.occurred_at
            previous = clocks.last_at
            return previous if previous is not None and at < previous else at

        current = clocks.current
        running = current is not None and current.is_open
        if kind == "created":
            created = event.created
            if current is not None:
                raise ClockError("ticket.created for a ticket that already has clocks")
            calendar, targets = await self._targets(session, sla_json(created.sla))
            if not targets:
                raise ClockError("ticket.created carries no SLA targets")
            return clocks.open_cycle(when(_at(created, "first_contact_at")), targets, calendar)
        if kind == "status_changed":
            action = event.status_changed.action
            if action == Action.STATUS_ACTION_PENDING:
                return clocks.pause(when())
            if action == Action.STATUS_ACTION_RESUMED:
                return clocks.resume(when())
            if action == Action.STATUS_ACTION_RESOLVED:
                return clocks.stop(when())
            if action == Action.STATUS_ACTION_REOPENED:  # fresh targets: of the latest reclassification, else of the creation
                sla = snapshots.get(row.ticket_id)
                if sla is None:
                    body = await session.scalar(
                        text("SELECT body FROM escalation.ticket_event WHERE ticket_id = :t "
                             "AND event_type = 'ticket.created' ORDER BY sequence DESC LIMIT 1"),
                        {"t": row.ticket_id},
                    )
                    sla = sla_json(ticketing_pb2.Event.FromString(body).created.sla) if body else {}
                calendar, targets = await self._targets(session, sla)
                return clocks.open_cycle(when(), targets, calendar)
            return []  # opened, closed: no clock changes
        if kind == "updated" and event.updated.HasField("classification") and current is not None:
            snap, events = await self._reclassify(session, clocks, row, event.updated.classification, when())
            if snap is not None:
                snapshots[row.ticket_id] = snap
                reclassified.add(row.ticket_id)
            return events
        outbound = kind == "contact_logged" and event.contact_logged.direction == ticketing_pb2.CONTACT_DIRECTION_OUTBOUND
        if ((kind == "progress_added" or outbound) and running and current is not None
                and "first_response" in current.active_targets):
            return clocks.satisfy("first_response", when(_at(event.contact_logged, "occurred_at") if outbound else None))
        return []  # inbound contacts and every other event: clocks are untouched

    async def _reclassify(self, session: AsyncSession, clocks: TicketClocks, row: Any,
                          classification: ticketing_pb2.TicketClassification, at: datetime,
                          ) -> tuple[dict[str, Any] | None, list[ClockEvent]]:
        """A severity/tier change: the new cell's snapshot for the next cycle (None: none could
        be resolved) and, while a cycle is open, the event tightening its targets (configuration/reclassify.py)."""
        current = clocks.current
        assert current is not None
        try:
            sla = await reclassified_sla(session, classification, current.opened_at)
        except ServiceError as err:  # no cell, no calendar: the stream must go on
            log.warning("reclassification_skipped", ticket_id=str(row.ticket_id), code=err.code, error=str(err))
            return None, []
        snap = snapshot(sla)
        if not current.is_open:
            return snap, []  # applies from the next cycle (a reopen)
        _, targets = await self._targets(session, snap)
        return snap, clocks.reclassify(at, targets, {
            "severity": enum_to_str(types_pb2.Severity, classification.severity), "matrix_tier": sla.matrix_tier, "level": sla.level,
            "policy": f"{sla.policy.id} v{sla.policy.version}", "matrix_version": sla.matrix_version, "sla": snap})

    # -------------------------------------------------------------- timer

    async def due_ticks(self, session: AsyncSession, *, now: datetime, limit: int = 100) -> int:
        """Fire warnings/breaches due by `now`; returns how many events were stored.

        Picks tickets by `clock_ticket.next_deadline` (partial index), skips rows another
        transaction holds, and skips tickets with inbox events not projected yet. Each ticket's
        clocks come from its state snapshot (a replay of its history when there is none yet);
        the events, escalations and notifications it fires are written in one statement per
        kind, and one UPDATE stores each ticket's next deadline, new snapshot and level."""
        rows = (await _execute(session, _CLAIM_DUE, {"now": now, "lim": limit})).all()
        if not rows:
            return 0
        restored = {r.ticket_id: decode_state(r.clock_state, r.clock_calendar) for r in rows}
        missing = [t for t, clocks in restored.items() if clocks is None]
        calendars: dict[uuid.UUID, str | None] = {}
        if missing:  # no snapshot yet (written before migration 0008): replay once, store it below
            restored.update(await load_many_ticket_clocks(session, missing))
            calendars = {t: encode_calendar(restored[t]) for t in missing}
        fired: list[tuple[Any, ClockEvent]] = []
        deadlines: list[datetime | None] = []
        states: list[str | None] = []
        for row in rows:
            clocks = restored[row.ticket_id]  # this pass's own copy: fired in place
            events, deadline = clocks.fire_due(now)
            fired += [(row, e) for e in events]
            deadlines.append(deadline)
            states.append(encode_state(clocks))
        stored = await _insert_many(session, [(row.ticket_id, e, None) for row, e in fired])
        for _, e in fired:
            _facts_counter(e.kind, e.target or "").inc()
            SLA_TIMER_LAG_SECONDS.observe(max(0.0, (now - e.at).total_seconds()))
        levels = await self.escalator.timer_facts(session, fired, raise_levels=False)
        await clock_store.save_ticked(session, [
            {"t": r.ticket_id, "d": d, "j": orjson.Fragment(j), "l": levels.get(r.ticket_id),
             "cal": None if r.ticket_id not in calendars else orjson.Fragment(calendars[r.ticket_id])}
            for r, d, j in zip(rows, deadlines, states)], now)
        return stored


@lru_cache(maxsize=64)
def _facts_counter(kind: str, target: str) -> Any:
    return SLA_CLOCK_FACTS.labels(kind, target)


_CLAIM_DUE = text(
    "SELECT c.ticket_id, c.level, c.team, c.calendar, c.ack_seconds, "
    "CAST(c.clock_state AS text) AS clock_state, CAST(c.clock_calendar AS text) AS clock_calendar "
    "FROM escalation.clock_ticket c "
    "WHERE c.next_deadline <= :now AND NOT EXISTS (SELECT 1 FROM escalation.ticket_event e "
    "  WHERE e.ticket_id = c.ticket_id AND e.sequence > c.last_sequence) "
    "ORDER BY c.next_deadline LIMIT :lim FOR UPDATE OF c SKIP LOCKED"
)
