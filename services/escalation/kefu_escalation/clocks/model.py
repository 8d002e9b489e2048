"""SLA clocks as a pure, event-sourced domain model (issue 4, DOMAIN.md §2).

No database, no I/O, no wall clock: every command takes the instant ``at`` it happens at and
*returns* the `ClockEvent`s to append; it never changes the history it was asked about.
State (`TicketClocks`, `SlaCycle`) is only ever the fold of the event history, so any cycle
can be replayed and audited from its events (`TicketClocks.replay`).

Rules, as implemented (each is a test in tests/unit/test_sla_clock_rules.py):

* **Start.** Cycle 1 is opened at the ticket's ``first_contact_at`` (the caller passes it as
  ``at``); its targets start there, not at row creation or at any later contact.
* **Contacts are not commands.** There is deliberately no "contact" command: a repeated
  customer contact never restarts or extends a clock. Opening a cycle while one is running is
  refused; **reopen is the only restart**: after ``stop`` (resolve), ``open_cycle`` opens
  cycle n+1 with fresh targets (and possibly a new calendar). Earlier cycles keep their events
  and outcomes.
* **Pause.** ``pause`` (pending_customer) pauses exactly the running targets whose policy flag
  ``pauses_when_pending`` is set (typically resolution; first response keeps running);
  ``resume`` (back to open) continues them with the business time they had left.
* **Business time.** A target's *used* time is ``calendar.elapsed`` summed over its running
  stretches. While it runs, ``due_at = calendar.add(running_since, duration - used)``; while it
  is paused with time left it has no due instant (``None``). The warning threshold is
  ``duration * warning_percent // 100`` and works the same way.
* **Breach instant.** A target breaches *at* ``due_at`` (the instant its whole duration has
  passed, as `BusinessCalendar.add` defines it); satisfying it at ``at < due_at`` is *met*,
  at ``at >= due_at`` *breached*. ``overrun`` is the business time used beyond the duration,
  ``late_by`` the real time since ``due_at`` (an answer at 20:00 to a target due at 18:00 has
  ``overrun == 0`` business time but is late by 2 h, and breached).
* **Warnings and breaches fire once per cycle.** ``tick(at)`` returns ``warned`` / ``breached``
  events whose instant has come and which this cycle has not recorded yet; ticking again
  returns nothing new. ``satisfy``/``stop`` also record a missed ``breached`` (never a missed
  ``warned``: a warning after the fact helps no one) before the outcome.
* **Outcome.** ``satisfy(target, at)`` (e.g. first response given) ends one target;
  ``stop(at)`` (resolve) ends every target still active and then the cycle. A target ends with
  exactly one terminal event: ``met`` (on time) or ``stopped`` (late; ``outcome='breached'``);
  details carry ``used``, ``overrun``, ``late_by``, ``margin``, ``due_at``. The cycle ends with
  a cycle-level ``stopped`` event carrying every target's outcome.
* **Nothing after the end.** Commands on a stopped cycle are refused with `ClockError` (a
  `ValueError`); ``tick`` on a stopped cycle returns ``[]`` (a late timer is harmless).
  Time never runs backwards: a command earlier than the last recorded event is refused.

* **Reclassification never loosens** (issue #14.3). ``reclassify(at, targets)`` (a severity or
  tier change re-resolved the matrix) tightens each active target whose new duration is
  shorter: the shorter duration counts from the target's start as if it had applied all along
  (its used business time is kept); a target already past the shorter duration is due at the
  change instant (it breaches then, never retroactively before it). A longer new duration
  changes nothing: a target promised to the customer is never loosened. One cycle-level
  ``reclassified`` event records the change (its ``targets``: the tightened definitions, possibly
  none; the rest of its details say what was re-resolved), so the history shows it.

Events: ``kind`` is one of `EVENT_KINDS`; ``target`` is ``None`` for cycle-level events
(``cycle_opened``, cycle ``paused``/``resumed``/``stopped``) and a target name otherwise.
``cycle_opened`` carries the calendar and the targets (snapshots, so a replay never depends on
later edits); ``started`` carries the `Target` definition it started.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from kefu_common.timestamps import rfc3339
from kefu_escalation.configuration.calendars import BusinessCalendar

__all__ = [
    "EVENT_KINDS",
    "TARGET_NAMES",
    "ClockError",
    "ClockEvent",
    "Outcome",
    "SlaCycle",
    "Target",
    "TargetClock",
    "TicketClocks",
]

_ZERO = timedelta(0)

TARGET_NAMES = ("first_response", "next_update", "resolution", "escalation_ack")
EVENT_KINDS = ("cycle_opened", "started", "paused", "resumed", "warned", "breached", "met", "stopped",
               "reclassified")
_CYCLE_KINDS = frozenset({"cycle_opened", "paused", "resumed", "stopped", "reclassified"})  # target=None
_TARGET_KINDS = frozenset({"started", "paused", "resumed", "warned", "breached", "met", "stopped"})


class ClockError(ValueError):
    """A command or an event that the clock rules do not allow."""


def _aware_utc(value: datetime, what: str = "at") -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ClockError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


# ------------------------------------------------------------------------------ values


@dataclass(frozen=True)
class Target:
    """One SLA target of a policy: a duration of business time."""

    name: str
    duration: timedelta
    pauses_when_pending: bool = False
    warning_percent: int = 75
    warning_before: timedelta | None = None  # absolute threshold: warn this long before due

    def __post_init__(self) -> None:
        if self.name not in TARGET_NAMES:
            raise ClockError(f"unknown target {self.name!r}; expected one of {', '.join(TARGET_NAMES)}")
        if not isinstance(self.duration, timedelta) or self.duration <= _ZERO:
            raise ClockError(f"target {self.name}: duration must be a positive timedelta")
        wp = self.warning_percent
        if isinstance(wp, bool) or not isinstance(wp, int) or not 1 <= wp <= 100:
            raise ClockError(f"target {self.name}: warning_percent must be an int in 1..100, got {wp!r}")
        wb = self.warning_before
        if wb is not None and (not isinstance(wb, timedelta) or wb <= _ZERO):
            raise ClockError(f"target {self.name}: warning_before must be a positive timedelta or None")

    @property
    def warning_after(self) -> timedelta:
        """Business time after which the warning fires (floored to the microsecond): at
        `warning_percent` of the duration or `warning_before` ahead of due, whichever is
        earlier (never before the start)."""
        after = (self.duration * self.warning_percent) // 100
        if self.warning_before is not None:
            after = max(_ZERO, min(after, self.duration - self.warning_before))
        return after


@dataclass(frozen=True)
class ClockEvent:
    """One immutable fact of a ticket's clock history."""

    kind: str
    cycle: int
    at: datetime
    target: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ClockError(f"unknown clock event kind {self.kind!r}")
        if isinstance(self.cycle, bool) or not isinstance(self.cycle, int) or self.cycle < 1:
            raise ClockError(f"cycle must be an int >= 1, got {self.cycle!r}")
        if self.target is None:
            if self.kind not in _CYCLE_KINDS:
                raise ClockError(f"a {self.kind!r} event needs a target")
        elif self.kind not in _TARGET_KINDS or self.target not in TARGET_NAMES:
            raise ClockError(f"a {self.kind!r} event cannot have target {self.target!r}")
        object.__setattr__(self, "at", _aware_utc(self.at))
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))


@dataclass(frozen=True)
class Outcome:
    """How one target of one cycle ended."""

    target: str
    result: str  # "met" | "breached"
    reason: str  # "satisfied" | "resolved"
    finished_at: datetime
    used: timedelta  # business time the target's clock ran
    due_at: datetime | None  # when it breached / would have (None: paused with time left)
    overrun: timedelta  # business time used beyond the duration (0 when met)
    late_by: timedelta  # real time from due_at to finished_at (0 when met)
    margin: timedelta  # business time left (0 when breached)


# ------------------------------------------------------------------------------ state


@dataclass
class TargetClock:
    """The fold state of one target's clock in one cycle (see `SlaCycle.restore`)."""

    target: Target
    started_at: datetime
    running_since: datetime | None
    used: timedelta = _ZERO  # business time of closed running stretches
    due_crossed: datetime | None = None  # known once a closed stretch used up the duration
    warn_crossed: datetime | None = None
    warned: bool = False
    breached: bool = False
    outcome: Outcome | None = None

    @property
    def active(self) -> bool:
        return self.outcome is None

    def used_at(self, at: datetime, cal: BusinessCalendar) -> timedelta:
        if self.running_since is None:
            return self.used
        return self.used + cal.elapsed(self.running_since, at)

    def _crossing(self, threshold: timedelta, known: datetime | None, cal: BusinessCalendar) -> datetime | None:
        if known is not None:
            return known
        if self.running_since is None:
            return None
        return cal.add(self.running_since, threshold - self.used)

    def due_at(self, cal: BusinessCalendar) -> datetime | None:
        return self._crossing(self.target.duration, self.due_crossed, cal)

    def warn_at(self, cal: BusinessCalendar) -> datetime | None:
        return self._crossing(self.target.warning_after, self.warn_crossed, cal)

    def close_stretch(self, at: datetime, cal: BusinessCalendar) -> None:
        """Stop running at `at`, remembering any threshold the stretch crossed."""
        since = self.running_since
        if since is None:
            return
        before = self.used
        after = before + cal.elapsed(since, at)
        if self.warn_crossed is None and after >= self.target.warning_after:
            self.warn_crossed = cal.add(since, self.target.warning_after - before)
        if self.due_crossed is None and after >= self.target.duration:
            self.due_crossed = cal.add(since, self.target.duration - before)
        self.used, self.running_since = after, None


class SlaCycle:
    """One clock cycle of a ticket: from first contact (or a reopen) to resolve."""

    def __init__(self, number: int, opened_at: datetime, calendar: BusinessCalendar,
                 targets: tuple[Target, ...]) -> None:
        self.number = number
        self.opened_at = opened_at
        self.calendar = calendar
        self.targets = targets  # the policy's targets at opening (fresh for every cycle)
        self.pending = False
        self.stopped_at: datetime | None = None
        self._clocks: dict[str, TargetClock] = {}

    @classmethod
    def restore(cls, number: int, opened_at: datetime, calendar: BusinessCalendar, targets: tuple[Target, ...],
                *, pending: bool, stopped_at: datetime | None, clocks: Mapping[str, TargetClock]) -> SlaCycle:
        """The cycle whose fold state is exactly this (a stored snapshot of its events; see
        clocks.encode_state). The events stay the source of truth: a snapshot must equal
        their replay, which tests/unit/test_sla_clock_state.py checks after every kind."""
        cycle = cls(number, opened_at, calendar, targets)
        cycle.pending, cycle.stopped_at = pending, stopped_at
        cycle._clocks = dict(clocks)
        return cycle

    @property
    def clocks(self) -> Mapping[str, TargetClock]:
        """Each started target's fold state, in start order (read-only view)."""
        return MappingProxyType(self._clocks)

    def _clone(self) -> SlaCycle:
        other = SlaCycle(self.number, self.opened_at, self.calendar, self.targets)
        other.pending, other.stopped_at = self.pending, self.stopped_at
        other._clocks = {k: replace(v) for k, v in self._clocks.items()}
        return other

    # ---------------------------------------------------------------- queries

    @property
    def is_open(self) -> bool:
        return self.stopped_at is None

    @property
    def started_targets(self) -> tuple[str, ...]:
        return tuple(self._clocks)

    @property
    def active_targets(self) -> tuple[str, ...]:
        return tuple(k for k, c in self._clocks.items() if c.active)

    def _clock(self, name: str) -> TargetClock:
        try:
            return self._clocks[name]
        except KeyError:
            raise ClockError(f"cycle {self.number} has no {name!r} clock") from None

    def is_running(self, name: str) -> bool:
        c = self._clock(name)
        return c.active and c.running_since is not None

    def due_at(self, name: str) -> datetime | None:
        """When `name` breaches (or breached) given the pauses so far; None if it is paused
        with time left or has already ended."""
        c = self._clock(name)
        return c.due_at(self.calendar) if c.active else None

    def warn_at(self, name: str) -> datetime | None:
        c = self._clock(name)
        return c.warn_at(self.calendar) if c.active else None

    def used(self, name: str, at: datetime) -> timedelta:
        """Business time the target's clock has run up to `at` (its final value once ended)."""
        c = self._clock(name)
        if not c.active:
            assert c.outcome is not None
            return c.outcome.used
        return c.used_at(_aware_utc(at), self.calendar)

    def outcome(self, name: str) -> Outcome | None:
        return self._clock(name).outcome

    @property
    def outcomes(self) -> Mapping[str, Outcome]:
        return MappingProxyType({k: c.outcome for k, c in self._clocks.items() if c.outcome is not None})

    def fired(self, name: str) -> tuple[bool, bool]:
        """(warned, breached) as recorded in this cycle's events."""
        c = self._clock(name)
        return c.warned, c.breached

    def snapshot(self) -> dict[str, Any]:
        """Everything observable about the cycle, as plain data (for comparisons/audit)."""
        cal = self.calendar
        return {
            "number": self.number,
            "opened_at": self.opened_at,
            "calendar": cal.name,
            "targets": self.targets,
            "pending": self.pending,
            "stopped_at": self.stopped_at,
            "clocks": {
                k: {
                    "running_since": c.running_since,
                    "used": c.used,
                    "due_at": c.due_at(cal) if c.active else None,
                    "warn_at": c.warn_at(cal) if c.active else None,
                    "warned": c.warned,
                    "breached": c.breached,
                    "outcome": c.outcome,
                }
                for k, c in self._clocks.items()
            },
        }

    # ---------------------------------------------------------------- fold

    def _check_recorded_due(self, e: ClockEvent) -> None:
        """A started/resumed event's recorded due_at (for audit) must be what the fold computes."""
        if "due_at" in e.details and e.details["due_at"] != self._clocks[e.target].due_at(self.calendar):
            raise ClockError(f"{e.kind!r} event for {e.target!r} records due_at {e.details['due_at']} "
                             "which contradicts the history")

    def _retarget(self, t: Target, at: datetime) -> None:
        """Fold a tightened target: the shorter duration from the clock's start; due at `at`
        when the clock has already used it up."""
        if not isinstance(t, Target):
            raise ClockError("a reclassified event must carry its targets as Target definitions")
        c = self._clock(t.name)
        if not c.active or t.duration >= c.target.duration:
            raise ClockError(f"reclassified may only tighten an active target; {t.name!r} is not that")
        cal = self.calendar
        used = c.used_at(at, cal)
        running = c.running_since is not None
        c.used, c.running_since, c.target = used, (at if running else None), t
        c.due_crossed = at if used >= t.duration else None
        c.warn_crossed = at if used >= t.warning_after else None

    def _apply(self, e: ClockEvent) -> None:
        cal = self.calendar
        if self.stopped_at is not None:
            raise ClockError(f"cycle {self.number} is stopped; no {e.kind!r} event may follow")
        if e.target is None:
            if e.kind == "paused":
                if self.pending:
                    raise ClockError(f"cycle {self.number} is already paused")
                self.pending = True
            elif e.kind == "resumed":
                if not self.pending:
                    raise ClockError(f"cycle {self.number} is not paused")
                self.pending = False
            elif e.kind == "stopped":
                if self.active_targets:
                    raise ClockError(f"cycle {self.number} stopped with active targets {self.active_targets}")
                self.stopped_at = e.at
            elif e.kind == "reclassified":
                for t in e.details.get("targets", ()):
                    self._retarget(t, e.at)
            else:
                raise ClockError(f"{e.kind!r} is not valid inside cycle {self.number}")
            return

        if e.kind == "started":
            definition = e.details.get("definition")
            if not isinstance(definition, Target) or definition.name != e.target:
                raise ClockError(f"started event for {e.target!r} must carry its Target definition")
            if e.target in self._clocks:
                raise ClockError(f"{e.target!r} already started in cycle {self.number}; clocks never restart")
            paused = self.pending and definition.pauses_when_pending
            self._clocks[e.target] = TargetClock(definition, e.at, None if paused else e.at)
            self._check_recorded_due(e)
            return

        c = self._clock(e.target)
        if not c.active:
            raise ClockError(f"{e.target!r} already ended in cycle {self.number}")
        if e.kind == "paused":
            if c.running_since is None:
                raise ClockError(f"{e.target!r} is not running")
            c.close_stretch(e.at, cal)
        elif e.kind == "resumed":
            if c.running_since is not None:
                raise ClockError(f"{e.target!r} is not paused")
            c.running_since = e.at
            self._check_recorded_due(e)
        elif e.kind == "warned":
            warn = c.warn_at(cal)
            if c.warned or warn is None or e.at < warn:
                raise ClockError(f"warned event for {e.target!r} at {e.at} is not due or already fired")
            c.warned = True
        elif e.kind == "breached":
            due = c.due_at(cal)
            if c.breached or due is None or e.at < due:
                raise ClockError(f"breached event for {e.target!r} at {e.at} is not due or already fired")
            c.breached = True
        elif e.kind in ("met", "stopped"):
            due = c.due_at(cal)
            late = due is not None and e.at >= due
            if late != (e.kind == "stopped") or (late and not c.breached):
                raise ClockError(f"{e.kind!r} for {e.target!r} at {e.at} contradicts its due time {due}")
            c.close_stretch(e.at, cal)
            duration = c.target.duration
            c.outcome = Outcome(
                target=e.target,
                result="breached" if late else "met",
                reason=str(e.details.get("reason", "satisfied")),
                finished_at=e.at,
                used=c.used,
                due_at=due,
                overrun=max(_ZERO, c.used - duration),
                late_by=(e.at - due) if late and due is not None else _ZERO,
                margin=_ZERO if late else duration - c.used,
            )


class TicketClocks:
    """All clock cycles of one ticket, folded from its events. Commands return new events;
    `append` returns a new `TicketClocks` with them (this one is left unchanged)."""

    def __init__(self) -> None:
        self._events: tuple[ClockEvent, ...] = ()
        self._cycles: list[SlaCycle] = []
        self._last_at: datetime | None = None
        self._folded: tuple[tuple[ClockEvent, ...], TicketClocks] | None = None  # see _verified

    @classmethod
    def replay(cls, events: Iterable[ClockEvent]) -> TicketClocks:
        clocks = cls()
        for e in events:
            clocks._apply(e)
        return clocks

    @classmethod
    def restore(cls, current: SlaCycle, last_at: datetime) -> TicketClocks:
        """The clocks of a ticket whose current cycle's fold state and last event instant are
        known (a stored snapshot), without its history: commands and `tick` behave exactly as
        on the replay; `events` holds only what is appended from here and `cycles` only the
        current cycle (earlier cycles never change, so nothing here needs them)."""
        clocks = cls()
        clocks._cycles, clocks._last_at = [current], last_at
        return clocks

    def append(self, events: Iterable[ClockEvent]) -> TicketClocks:
        events = tuple(events)
        folded = self._folded
        if folded is not None and len(folded[0]) == len(events) and all(
                a is b for a, b in zip(folded[0], events)):
            return folded[1]  # exactly the events a command of this history just returned
        other = TicketClocks()
        other._events, other._last_at = self._events, self._last_at
        other._cycles = [c._clone() for c in self._cycles]
        for e in events:
            other._apply(e)
        return other

    # ---------------------------------------------------------------- queries

    @property
    def events(self) -> tuple[ClockEvent, ...]:
        return self._events

    @property
    def cycles(self) -> tuple[SlaCycle, ...]:
        return tuple(self._cycles)

    @property
    def current(self) -> SlaCycle | None:
        return self._cycles[-1] if self._cycles else None

    @property
    def last_at(self) -> datetime | None:
        return self._last_at

    def _open(self) -> SlaCycle:
        cycle = self.current
        if cycle is None:
            raise ClockError("no clock cycle has been opened (open cycle 1 at first_contact_at)")
        if not cycle.is_open:
            raise ClockError(
                f"cycle {cycle.number} was stopped (resolved) at {rfc3339(cycle.stopped_at)}; "
                "only a reopen (open_cycle) may follow"
            )
        return cycle

    def due_at(self, name: str) -> datetime | None:
        return self._open().due_at(name)

    def warn_at(self, name: str) -> datetime | None:
        return self._open().warn_at(name)

    def next_deadline(self) -> datetime | None:
        """The earliest warning/breach instant of the open cycle not recorded yet (for a timer)."""
        cycle = self.current
        if cycle is None or not cycle.is_open:
            return None
        found: list[datetime] = []
        for name in cycle.active_targets:
            c = cycle._clocks[name]
            for done, when in ((c.warned, c.warn_at(cycle.calendar)), (c.breached, c.due_at(cycle.calendar))):
                if not done and when is not None:
                    found.append(when)
        return min(found, default=None)

    def snapshot(self) -> list[dict[str, Any]]:
        return [c.snapshot() for c in self._cycles]

    # ---------------------------------------------------------------- fold

    def _apply(self, e: ClockEvent) -> None:
        if not isinstance(e, ClockEvent):
            raise TypeError(f"expected a ClockEvent, got {type(e).__name__}")
        last = self.last_at
        if last is not None and e.at < last:
            raise ClockError(f"event at {rfc3339(e.at)} is earlier than the history ({rfc3339(last)})")
        if e.kind == "cycle_opened":
            current = self.current
            if current is not None and current.is_open:
                raise ClockError(
                    f"cycle {current.number} is still running; clocks never restart - only resolve "
                    "ends a cycle and only a reopen opens the next"
                )
            expected = current.number + 1 if current is not None else 1
            if e.cycle != expected:
                raise ClockError(f"expected cycle {expected}, got cycle_opened {e.cycle}")
            cal, targets = e.details.get("calendar"), e.details.get("targets")
            if not isinstance(cal, BusinessCalendar):
                raise ClockError("cycle_opened must carry its BusinessCalendar")
            if not isinstance(targets, tuple) or not all(isinstance(t, Target) for t in targets):
                raise ClockError("cycle_opened must carry its targets as a tuple of Target")
            self._cycles.append(SlaCycle(e.cycle, e.at, cal, targets))
        else:
            current = self.current
            if current is None or e.cycle != current.number:
                raise ClockError(f"{e.kind!r} event for cycle {e.cycle} but the current cycle is "
                                 f"{current.number if current else 'none'}")
            current._apply(e)
        self._events = (*self._events, e)
        self._last_at = e.at

    # ---------------------------------------------------------------- commands

    def _check_time(self, at: datetime) -> datetime:
        at = _aware_utc(at)
        last = self.last_at
        if last is not None and at < last:
            raise ClockError(f"time runs backwards: {rfc3339(at)} is before {rfc3339(last)}")
        return at

    def _verified(self, events: list[ClockEvent]) -> list[ClockEvent]:
        # Every command's events must fold cleanly onto the history; the folded result is
        # kept so that `append` of exactly these events (the usual next step) costs nothing.
        self._folded = (tuple(events), self.append(events))
        return events

    def open_cycle(self, at: datetime, targets: Sequence[Target], calendar: BusinessCalendar) -> list[ClockEvent]:
        """Open cycle 1 (``at`` = the ticket's first_contact_at) or, after a resolve, the next
        cycle (a reopen) with fresh targets; start every target given."""
        at = self._check_time(at)
        current = self.current
        if current is not None and current.is_open:
            raise ClockError(
                f"cycle {current.number} is still running; a repeated contact or any other event "
                "never restarts a clock - resolve it first, then reopen"
            )
        if not isinstance(calendar, BusinessCalendar):
            raise ClockError("calendar must be a BusinessCalendar")
        targets = tuple(targets)
        if not targets or not all(isinstance(t, Target) for t in targets):
            raise ClockError("open_cycle needs at least one Target")
        names = [t.name for t in targets]
        if len(set(names)) != len(names):
            raise ClockError(f"duplicate targets {names}")
        number = current.number + 1 if current is not None else 1
        events = [ClockEvent("cycle_opened", number, at, None,
                             {"calendar": calendar, "targets": targets, "reopen": number > 1})]
        events += [self._started(number, t, at, calendar, paused=False) for t in targets]
        return self._verified(events)

    @staticmethod
    def _started(number: int, t: Target, at: datetime, cal: BusinessCalendar, *, paused: bool) -> ClockEvent:
        details: dict[str, Any] = {"definition": t, "paused": paused,
                                   "due_at": None if paused else cal.add(at, t.duration),
                                   "warn_at": None if paused else cal.add(at, t.warning_after)}
        return ClockEvent("started", number, at, t.name, details)

    def start(self, target: Target, at: datetime) -> list[ClockEvent]:
        """Start one more target in the open cycle (e.g. escalation_ack when an escalation
        happens). A target runs at most once per cycle."""
        at = self._check_time(at)
        cycle = self._open()
        if not isinstance(target, Target):
            raise ClockError("start needs a Target")
        if target.name in cycle._clocks:
            raise ClockError(f"{target.name!r} already started in cycle {cycle.number}; clocks never restart")
        paused = cycle.pending and target.pauses_when_pending
        return self._verified([self._started(cycle.number, target, at, cycle.calendar, paused=paused)])

    def pause(self, at: datetime) -> list[ClockEvent]:
        """The ticket went pending_customer: pause the targets whose policy says so."""
        at = self._check_time(at)
        cycle = self._open()
        if cycle.pending:
            raise ClockError(f"cycle {cycle.number} is already paused")
        cal = cycle.calendar
        pausing = [k for k, c in cycle._clocks.items()
                   if c.active and c.running_since is not None and c.target.pauses_when_pending]
        events = [ClockEvent("paused", cycle.number, at, None, {"targets": tuple(pausing)})]
        events += [ClockEvent("paused", cycle.number, at, k, {"used": cycle._clocks[k].used_at(at, cal)})
                   for k in pausing]
        return self._verified(events)

    def resume(self, at: datetime) -> list[ClockEvent]:
        """The ticket is open again: paused targets continue with their remaining time."""
        at = self._check_time(at)
        cycle = self._open()
        if not cycle.pending:
            raise ClockError(f"cycle {cycle.number} is not paused")
        cal = cycle.calendar
        resuming = [k for k, c in cycle._clocks.items() if c.active and c.running_since is None]
        events = [ClockEvent("resumed", cycle.number, at, None, {"targets": tuple(resuming)})]
        for k in resuming:
            c = cycle._clocks[k]
            left = c.target.duration - c.used
            due = c.due_crossed if c.due_crossed is not None else cal.add(at, left)
            events.append(ClockEvent("resumed", cycle.number, at, k,
                                     {"used": c.used, "remaining": max(_ZERO, left), "due_at": due}))
        return self._verified(events)

    def _finish(self, cycle: SlaCycle, name: str, at: datetime, reason: str) -> list[ClockEvent]:
        c = cycle._clocks[name]
        cal = cycle.calendar
        due = c.due_at(cal)
        used = c.used_at(at, cal)
        late = due is not None and at >= due
        events: list[ClockEvent] = []
        if late and not c.breached:
            events.append(ClockEvent("breached", cycle.number, at, name, {"due_at": due, "used": used}))
        duration = c.target.duration
        details = {
            "reason": reason,
            "outcome": "breached" if late else "met",
            "used": used,
            "due_at": due,
            "overrun": max(_ZERO, used - duration),
            "late_by": (at - due) if late and due is not None else _ZERO,
            "margin": _ZERO if late else duration - used,
        }
        events.append(ClockEvent("stopped" if late else "met", cycle.number, at, name, details))
        return events

    def satisfy(self, target: str, at: datetime) -> list[ClockEvent]:
        """The target was fulfilled at `at` (e.g. first response given): met or breached."""
        at = self._check_time(at)
        cycle = self._open()
        c = cycle._clock(target)
        if not c.active:
            raise ClockError(f"{target!r} already ended in cycle {cycle.number} ({c.outcome.result})")
        return self._verified(self._finish(cycle, target, at, "satisfied"))

    def stop(self, at: datetime) -> list[ClockEvent]:
        """Resolve: end every active target (met or breached) and then the cycle."""
        at = self._check_time(at)
        cycle = self._open()
        events: list[ClockEvent] = []
        for name in cycle.active_targets:
            events += self._finish(cycle, name, at, "resolved")
        outcomes = {k: c.outcome.result for k, c in cycle._clocks.items() if c.outcome is not None}
        outcomes.update({e.target: e.details["outcome"] for e in events if e.kind in ("met", "stopped")})
        events.append(ClockEvent("stopped", cycle.number, at, None, {"outcomes": outcomes}))
        return self._verified(events)

    def reclassify(self, at: datetime, targets: Sequence[Target],
                   details: Mapping[str, Any] | None = None) -> list[ClockEvent]:
        """A severity or tier change re-resolved the matrix to `targets`: tighten the active
        targets they shorten, loosen none (see the module doc); one `reclassified` event with
        the tightened definitions and `details` (what was re-resolved), even when none tightened."""
        at = self._check_time(at)
        cycle = self._open()
        tightened, kept = [], []
        for t in targets:
            if not isinstance(t, Target):
                raise ClockError("reclassify needs Target definitions")
            c = cycle._clocks.get(t.name)
            if c is None or not c.active:
                continue
            (tightened if t.duration < c.target.duration else kept).append(t)
        info = {**(details or {}), "targets": tuple(tightened), "kept": tuple(t.name for t in kept)}
        return self._verified([ClockEvent("reclassified", cycle.number, at, None, info)])

    def tick(self, at: datetime) -> list[ClockEvent]:
        """Warnings and breaches due by `at` that this cycle has not recorded yet (each fires
        at most once per cycle). Nothing when no cycle is open."""
        at = self._check_time(at)
        cycle = self.current
        if cycle is None or not cycle.is_open:
            return []
        return self._verified(self._due_events(cycle, at))

    @staticmethod
    def _due_events(cycle: SlaCycle, at: datetime) -> list[ClockEvent]:
        cal = cycle.calendar
        events: list[ClockEvent] = []
        for name in cycle.active_targets:
            c = cycle._clocks[name]
            warn, due = c.warn_at(cal), c.due_at(cal)
            used = c.used_at(at, cal)
            if not c.warned and warn is not None and at >= warn:
                events.append(ClockEvent("warned", cycle.number, at, name, {"warn_at": warn, "used": used}))
            if not c.breached and due is not None and at >= due:
                events.append(ClockEvent("breached", cycle.number, at, name, {"due_at": due, "used": used}))
        return events

    def fire_due(self, now: datetime) -> tuple[list[ClockEvent], datetime | None]:
        """What a timer does at `now`: `tick` at each due deadline in turn (at the deadline, or
        at the last event's instant if that is later) until none is due, folding the events
        into *this* object instead of a copy (so it must not be shared: e.g. clocks restored
        from a snapshot or replayed for the purpose). Returns the events and the next deadline;
        the events are exactly those of the `tick`/`append` loop, each folded with the same
        checks."""
        now = _aware_utc(now, "now")
        fired: list[ClockEvent] = []
        deadline = self.next_deadline()
        while deadline is not None and deadline <= now:
            last = self._last_at
            at = deadline if last is None or deadline > last else last
            events = self._due_events(self._cycles[-1], at)
            if not events:
                break
            for e in events:
                self._apply(e)
            fired += events
            deadline = self.next_deadline()
        self._folded = None
        return fired, deadline
