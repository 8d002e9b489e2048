"""Runs the SLA clocks in the escalation process: projects new inbox events into clock events
(and the escalations they trigger), fires warnings, breaches and acknowledgement timeouts as
they fall due, and delivers queued notifications.

All state is in PostgreSQL (see clocks.py, escalations.py), so a restart resumes where the last
committed pass ended and any number of replicas may run this loop: each timer row is claimed
with ``FOR UPDATE SKIP LOCKED`` and every fact is guarded by a unique index.

When does a pass run? After each pass the worker reads the earliest pending instant (next
clock deadline, acknowledgement due time, notification retry; three index-only ``min()``
look-ups) and sleeps exactly until then, at most `interval`. It wakes early when the event
consumer stores an event (`wake`) and when any replica commits a new deadline
(``NOTIFY kefu_escalation_timer``, see escalations.wake_timers), so a new earlier deadline is
never slept through and the lag between a deadline and its escalation is one pass, not a
polling interval.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.logging import get_logger
from kefu_common.pg_listen import PgListener
from kefu_common.tasks import BackgroundLoop
from kefu_escalation.clocks import ClockProjector
from kefu_escalation.escalations import TIMER_CHANNEL
from kefu_escalation.notifications import LogSink, NotificationDispatcher

log = get_logger("kefu.escalation.clocks")

_NEXT_DUE = text(
    "SELECT least("
    " (SELECT min(next_deadline) FROM escalation.clock_ticket WHERE next_deadline IS NOT NULL),"
    " (SELECT min(ack_due_at) FROM escalation.escalation WHERE status = 'open' AND ack_due_at IS NOT NULL),"
    " (SELECT min(next_attempt_at) FROM escalation.notification WHERE status = 'pending'))"
)


IDLE_RETRY_SECONDS = 0.02


@dataclass(frozen=True)
class PassResult:
    projected: int  # inbox events read
    fired: int  # warnings/breaches stored
    acks: int  # acknowledgement clocks that ran out
    sent: int  # notifications delivered

    def busy(self, batch: int) -> bool:
        return max(self.projected, self.acks) >= batch or self.fired >= batch


class SlaClockWorker:
    def __init__(
        self, db: Database, clock: Clock, *, interval: float = 1.0, batch: int = 200,
        projector: ClockProjector | None = None, dispatcher: NotificationDispatcher | None = None,
        listen: bool = True, concurrency: int = 1,
    ) -> None:
        self.db = db
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.concurrency = max(1, concurrency)  # timer transactions at once (disjoint: SKIP LOCKED)
        self.projector = projector or ClockProjector()
        self.dispatcher = dispatcher or NotificationDispatcher([LogSink()])
        self._wake = asyncio.Event()
        self._loop = BackgroundLoop("sla-clock-worker", self.run)
        self._listener = (PgListener(db.url, TIMER_CHANNEL, on_notify=self.wake, name="kefu-escalation-timer")
                          if listen else None)

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> PassResult:
        """One pass, each step in its own transaction."""
        async with self.db.session() as session:
            projected = await self.projector.project(session, limit=self.batch, clock=self.clock)
        fired = sum(await asyncio.gather(*(self._tick() for _ in range(self.concurrency))))
        async with self.db.session() as session:
            acks = await self.projector.escalator.due_acks(session, now=self.clock.now(), limit=self.batch)
        async with self.db.session() as session:
            sent = await self.dispatcher.dispatch_due(session, now=self.clock.now())
        if fired or acks:
            log.info("sla_clock_deadlines_recorded", count=fired, ack_timeouts=acks)
        return PassResult(projected, fired, acks, sent)

    async def _tick(self) -> int:
        async with self.db.session() as session:
            return await self.projector.due_ticks(session, now=self.clock.now(), limit=self.batch)

    async def next_due(self) -> datetime | None:
        async with self.db.session() as session:
            return await session.scalar(_NEXT_DUE)

    async def _sleep_seconds(self) -> float:
        due = await self.next_due()
        if due is None:
            return self.interval
        return max(0.0, min(self.interval, (due - self.clock.now()).total_seconds()))

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                result = await self.run_once()
                if result.busy(self.batch):
                    continue  # more is waiting
                delay = await self._sleep_seconds()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sla_clock_pass_failed")
                result, delay = PassResult(0, 0, 0, 0), self.interval
            if delay <= 0:
                if result.projected or result.fired or result.acks or result.sent:
                    continue
                delay = IDLE_RETRY_SECONDS  # due but not claimable now (locked by a replica)
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    async def start(self) -> None:
        if self._listener is not None:
            await self._listener.start()
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        if self._listener is not None:
            await self._listener.stop()
