"""The published matrix's cells, answered from memory on the create path (issue #15).

Every new ticket asks `ResolveSla` which level, policy version and calendar its (tier,
severity) gets. The answer changes only when a matrix version is published or a calendar's
spec is edited, a few times a year, so each escalation process keeps the cells it has read and
drops them all when one of those commits:

* the publishing transaction sends `pg_notify(CONFIG_CHANNEL)` (`service.announce_config_change`,
  delivered at commit), and every replica's `PgListener` clears its cache;
* the process that published clears its own at once (`invalidate`), so a client that publishes
  and then creates a ticket through the same replica reads its own write;
* while the listener is not connected (startup, a lost connection) the cache is bypassed, and
  its reconnect clears it (PgListener's "" hint), so a notification missed in between costs
  nothing; entries also expire after `ttl_seconds` as a last safety net;
* a read that started before an invalidation is not stored (a generation counter), so a slow
  fill can never put back what a publish just replaced.

Another replica may answer from the version before a publish for the milliseconds the
notification takes to arrive: a ticket created in that instant gets the version it would have
got had it arrived a moment earlier (documented in docs/escalation.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.db import Database
from kefu_common.pg_listen import PgListener
from kefu_escalation.configuration.service import CONFIG_CHANNEL, PublishedCell, published_cell

TTL_SECONDS = 300.0


class PublishedSlaCache:
    def __init__(self, db: Database, *, ttl_seconds: float = TTL_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._cells: dict[tuple[str, str], tuple[float, PublishedCell]] = {}
        self._generation = 0
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._listener = PgListener(db.direct_url, CONFIG_CHANNEL, on_notify=self._notified,
                                    name="kefu-escalation-sla-cache")
        self.hits = self.misses = 0

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()
        self.invalidate()

    @property
    def generation(self) -> int:
        """Counts invalidations (tests wait on it instead of on time)."""
        return self._generation

    def invalidate(self) -> None:
        self._generation += 1
        self._cells.clear()

    def _notified(self, _payload: str) -> None:
        self.invalidate()

    async def cell(self, session: AsyncSession, tier: str, severity: str) -> PublishedCell | None:
        key = (tier, severity)
        now = self._monotonic()
        if self._listener.connected:
            cached = self._cells.get(key)
            if cached is not None and now - cached[0] < self._ttl:
                self.hits += 1
                return cached[1]
        self.misses += 1
        generation = self._generation
        found = await published_cell(session, tier, severity)
        if found is not None and self._listener.connected and generation == self._generation:
            self._cells[key] = (now, found)
        return found
