"""Runs the SLA clocks in the escalation process: projects new inbox events into clock
events and records warnings and breaches as they fall due.

All state is in PostgreSQL (see clocks.py), so a restart resumes where the last committed
batch ended and any number of replicas may run this loop. The event consumer wakes the
worker as soon as it stores an event; otherwise it polls every `interval` seconds, which
bounds the timer lag. (Waking replicas for a new earlier deadline through LISTEN/NOTIFY is
still to come.)
"""

from __future__ import annotations

import asyncio

from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.logging import get_logger
from kefu_common.tasks import BackgroundLoop
from kefu_escalation.clocks import ClockProjector

log = get_logger("kefu.escalation.clocks")


class SlaClockWorker:
    def __init__(
        self, db: Database, clock: Clock, *, interval: float = 1.0, batch: int = 200
    ) -> None:
        self.db = db
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.projector = ClockProjector()
        self._wake = asyncio.Event()
        self._loop = BackgroundLoop("sla-clock-worker", self.run)

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> tuple[int, int]:
        """One pass: (inbox events projected, warnings/breaches recorded)."""
        async with self.db.session() as session:
            projected = await self.projector.project(session, limit=self.batch, clock=self.clock)
        async with self.db.session() as session:
            fired = await self.projector.due_ticks(session, now=self.clock.now(), limit=self.batch)
        if fired:
            log.info("sla_clock_deadlines_recorded", count=fired)
        return projected, fired

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                projected, _ = await self.run_once()
                if projected >= self.batch:
                    continue  # more is waiting
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sla_clock_pass_failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
