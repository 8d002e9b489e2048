"""Retention of idempotency records (every service that keeps them).

A stored reply answers retries of its key for at least `KEFU_IDEMPOTENCY_RETENTION_HOURS`
(default 24 h, as Stripe publishes for its keys); after that it may be purged, and a request
with that key is then a new request. Each service that keeps records runs `purge_loop` on its
own table: a pass deletes expired rows in batches and runs every `retention / 24` (at most
hourly), so a record is gone at the latest one interval after it expired. Passes in several
replicas at once are harmless (a DELETE of what another pass already removed finds nothing).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.tasks import PollingLoop

BATCH = 5_000
_TABLE = re.compile(r"[a-z_]+\.[a-z_]+")


async def purge_expired(db: Database, table: str, *, now: datetime, retention: timedelta) -> int:
    """Delete `table`'s records created before `now - retention`; how many were deleted."""
    if not _TABLE.fullmatch(table):
        raise ValueError(f"not a schema-qualified table name: {table!r}")
    cutoff = now - retention
    deleted = 0
    while True:
        async with db.session() as session:
            conn = await session.connection()
            result = await conn.execute(
                text(f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} "
                     "WHERE created_at < :cutoff LIMIT :batch)"),
                {"cutoff": cutoff, "batch": BATCH},
            )
        deleted += result.rowcount or 0
        if (result.rowcount or 0) < BATCH:
            return deleted


def purge_loop(db: Database, table: str, clock: Clock, retention: timedelta, *, log: Any) -> PollingLoop:
    """The background pass that keeps `table` within its retention."""

    async def once() -> bool:
        deleted = await purge_expired(db, table, now=clock.now(), retention=retention)
        if deleted:
            log.info("idempotency_records_purged", table=table, deleted=deleted)
        return False

    interval = min(3600.0, retention.total_seconds() / 24)
    return PollingLoop("idempotency-purge", once, interval=interval, log=log)
