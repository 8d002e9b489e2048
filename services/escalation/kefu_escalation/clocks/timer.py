"""Runs the SLA clocks in the escalation process: projects new inbox events into clock events
(and the escalations they trigger), fires warnings, breaches and acknowledgement timeouts as
they fall due, and delivers queued notifications.

All state is in PostgreSQL (see clocks/projector.py, escalations/escalator.py), so a restart resumes where the last
committed pass ended and any number of replicas may run this loop: each timer row is claimed
with ``FOR UPDATE SKIP LOCKED`` and every fact is guarded by a unique index.

Two loops run side by side: the timer (projection, warnings/breaches, acknowledgement
timeouts) and the notification dispatcher, so a slow webhook never delays a deadline. After
each pass a loop reads its earliest pending instant (next clock deadline or acknowledgement
due time; next notification attempt: index-only ``min()`` look-ups) and sleeps exactly until
then, at most `interval`. It wakes early when the event
consumer stores an event (`wake`) and when any replica commits a new deadline
(``NOTIFY kefu_escalation_timer``, see escalations.wake_timers), so a new earlier deadline is
never slept through and the lag between a deadline and its escalation is one pass, not a
polling interval. The notification carries the kind and instant of the new deadline, so a
busy timer keeps what it knows (its own escalations' acknowledgement clocks, due hours
later, do not send it looking for due acknowledgements on every pass); the dispatcher is
woken only when the timer queued a notification it would otherwise sleep past.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.logging import get_logger
from kefu_common.pg_listen import PgListener
from kefu_common.tasks import BackgroundLoop
from kefu_escalation.clocks.projector import ClockProjector
from kefu_escalation.escalations.escalator import TIMER_CHANNEL, TIMER_STEPS, queued_notifications
from kefu_escalation.notifications import LogSink, NotificationDispatcher

log = get_logger("kefu.escalation.clocks")

_NEXT_TIMER = text(
    "SELECT (SELECT min(next_deadline) FROM escalation.clock_ticket WHERE next_deadline IS NOT NULL) AS ticks,"
    " (SELECT min(ack_due_at) FROM escalation.escalation WHERE status = 'open' AND ack_due_at IS NOT NULL)"
    "  AS acks,"
    " (SELECT min(next_update_due) FROM escalation.clock_ticket WHERE next_update_due IS NOT NULL) AS updates"
)
_NEVER = datetime.max.replace(tzinfo=UTC)
_NEXT_NOTIFICATION = text("SELECT min(next_attempt_at) FROM escalation.notification WHERE status = 'pending'")
IDLE_RETRY_SECONDS = 0.02
SIGNAL_EXPIRY_PASS_SECONDS = 60.0  # how often a timer looks for risk signals to expire


def _earliest(row: Any) -> datetime | None:
    """The earliest of a row of pending instants (None: nothing pending)."""
    return min((t for t in row if t is not None), default=None)


class SlaClockWorker:
    """Two loops: the timer (projection, warnings/breaches, acknowledgement timeouts) and the
    notification dispatcher, so slow notification sinks never delay a deadline."""

    def __init__(
        self, db: Database, clock: Clock, *, interval: float = 1.0, batch: int = 200,
        projector: ClockProjector | None = None, dispatcher: NotificationDispatcher | None = None,
        listen: bool = True,
    ) -> None:
        self.db = db
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.projector = projector or ClockProjector()
        self.dispatcher = dispatcher or NotificationDispatcher([LogSink()])
        self._wake = asyncio.Event()
        self._wake_dispatch = asyncio.Event()
        self._timer = BackgroundLoop("sla-clock-timer", self._run_timer)
        self._sender = BackgroundLoop("sla-notification-dispatch", self._run_dispatch)
        self._listener = (PgListener(db.direct_url, TIMER_CHANNEL, on_notify=self.deadlines_changed,
                                     name="kefu-escalation-timer") if listen else None)
        # What the last look-up found due when (None: unknown, look). Steps with nothing due
        # are skipped, so a busy timer spends its statements on the deadlines that are.
        self._due: dict[str, datetime | None] = {"acks": None, "updates": None}
        self._inbox_pending = True
        self._projected_at = 0.0
        self._signals_checked_at = 0.0
        # Until when each loop sleeps (None: it is running and will look again before sleeping).
        self._asleep: dict[str, datetime | None] = {"timer": None, "dispatch": None}
        self._next: Any = None  # the pending instants the last timer pass read (_NEXT_TIMER)

    def wake(self) -> None:
        """New inbox events were stored (the event consumer calls this)."""
        self._inbox_pending = True
        self._wake.set()

    def deadlines_changed(self, payload: str = "") -> None:
        """Some replica committed a new or earlier deadline (NOTIFY kefu_escalation_timer):
        "<step> <instant>" keeps the earlier of that and what is known; anything else (a
        reconnect) forgets what is known."""
        step, _, instant = payload.partition(" ")
        try:
            at = datetime.fromisoformat(instant) if instant else None
        except ValueError:
            at = None
        if at is None or step not in TIMER_STEPS:
            self._due = dict.fromkeys(self._due)
        elif step in self._due and self._due[step] is not None:
            self._due[step] = min(self._due[step], at)
        self._wake.set()

    def _queued(self, session: Any) -> None:
        """Wake the dispatcher for notifications queued in `session` it would sleep past."""
        first = queued_notifications(session)
        if first is None:
            return
        until = self._asleep["dispatch"]
        if until is None or first < until:
            self._wake_dispatch.set()

    def _is_due(self, step: str, now: datetime) -> bool:
        due = self._due[step]
        return due is None or due <= now

    async def timer_pass(self) -> int:
        """Project new inbox events, fire due warnings/breaches and acknowledgement timeouts,
        each step in its own transaction; returns the work done (0: nothing was due)."""
        projected = acks = 0
        if self._inbox_pending or time.monotonic() - self._projected_at >= self.interval:
            self._inbox_pending, self._projected_at = False, time.monotonic()
            async with self.db.session() as session:
                projected = await self.projector.project(session, limit=self.batch, clock=self.clock)
            self._queued(session)
            self._inbox_pending = projected >= self.batch
        async with self.db.session() as session:
            fired = await self.projector.due_ticks(session, now=self.clock.now(), limit=self.batch)
            # What to sleep until, read in the same transaction (after its own writes) rather
            # than in one more: a busy timer spends a third of its statements less on it.
            self._next = None if fired >= self.batch else (
                await (await session.connection()).execute(_NEXT_TIMER)).one()
        self._queued(session)
        escalator = self.projector.escalator
        for step, run in (("acks", escalator.due_acks), ("updates", escalator.due_updates)):
            if self._is_due(step, self.clock.now()):
                async with self.db.session() as session:
                    done = await run(session, now=self.clock.now(), limit=self.batch)
                self._queued(session)
                acks += done
                if done:
                    self._due[step] = None  # more may be due: look again
                    self._next = None
        if time.monotonic() - self._signals_checked_at >= SIGNAL_EXPIRY_PASS_SECONDS:
            self._signals_checked_at = time.monotonic()
            async with self.db.session() as session:
                await escalator.expire_signals(session, now=self.clock.now(), limit=self.batch)
        if fired or acks:
            log.debug("sla_clock_deadlines_recorded", count=fired, ack_timeouts=acks)
        # full batches mean more is waiting right now
        return self.batch if max(projected, acks) >= self.batch or fired >= self.batch else projected + fired + acks

    async def dispatch_pass(self) -> int:
        return await self.dispatcher.dispatch_due(self.db, clock=self.clock, limit=self.batch)

    async def _read(self, query: Any) -> Any:
        """The row of earliest pending instants `query` reads."""
        async with self.db.session() as session:
            return (await (await session.connection()).execute(query)).one()

    async def next_timer(self) -> datetime | None:
        """The timer's next due instant (as the last pass read it, unless a later step of the
        pass changed deadlines); also remembers when each optional step is due."""
        row, self._next = self._next, None
        if row is None:
            row = await self._read(_NEXT_TIMER)
        self._due = {"acks": row.acks or _NEVER, "updates": row.updates or _NEVER}
        return _earliest(row)

    async def next_notification(self) -> datetime | None:
        return _earliest(await self._read(_NEXT_NOTIFICATION))

    async def _paced(self, step: Callable[[], Awaitable[int]], next_due: Callable[[], Awaitable[datetime | None]],
                     wake: asyncio.Event, name: str) -> None:
        """Run `step` until it finds nothing, then sleep until the next due instant (at most
        `interval`) or until woken."""
        while True:
            wake.clear()
            try:
                done = await step()
                if done >= self.batch:
                    continue
                due = await next_due()
                delay = self.interval if due is None else min(self.interval,
                                                              (due - self.clock.now()).total_seconds())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sla_worker_pass_failed", loop=name)
                done, delay = 0, self.interval
            if delay <= 0:
                if done:
                    continue
                delay = IDLE_RETRY_SECONDS  # due but not claimable now (locked by a replica)
            self._asleep[name] = self.clock.now() + timedelta(seconds=delay)
            try:
                await asyncio.wait_for(wake.wait(), delay)
            except TimeoutError:
                pass
            finally:
                self._asleep[name] = None

    async def _run_timer(self) -> None:
        await self._paced(self.timer_pass, self.next_timer, self._wake, "timer")

    async def _run_dispatch(self) -> None:
        await self._paced(self.dispatch_pass, self.next_notification, self._wake_dispatch, "dispatch")

    async def start(self) -> None:
        if self._listener is not None:
            await self._listener.start()
        await self._timer.start()
        await self._sender.start()

    async def stop(self) -> None:
        await self._timer.stop()
        await self._sender.stop()
        if self._listener is not None:
            await self._listener.stop()
