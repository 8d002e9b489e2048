"""CPU per fired SLA timer: the escalation timer's own Python cost, without the wall clock.

    python bench/sla_timer_cpu.py [--due 20000] [--batch 200] [--profile out.prof] [--database-url URL]

Writes `due` tickets shaped like the ones in sla_timer_bench.py (one policy, a 1-hour first
response warning at 100 %, all already due), then runs the worker's timer step
(`ClockProjector.due_ticks`, one transaction per batch) until nothing is due and reports the
process CPU time per fired timer (ms). CPU time is what a host stall queues behind, and unlike
wall-clock lag it is barely moved by other load on a shared machine, so it is the figure to
compare changes by. `--profile` writes a cProfile of the timer passes.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sla_timer_bench import database, write_due_stream  # noqa: E402


async def write_due(db, count: int) -> None:
    """`count` tickets shaped as sla_timer_bench.py writes them, all due already."""
    async with db.session() as s:
        c = await s.connection()
        await write_due_stream(c, [uuid.uuid4() for _ in range(count)], datetime.now(UTC) - timedelta(minutes=5), 2000)
        await c.execute(text("ANALYZE escalation.clock_ticket"))


async def backend_pids(db) -> list[int]:
    """The server processes of the pool's connections (all checked out at once, so each is seen)."""
    async with db.engine.connect() as a, db.engine.connect() as b:
        return [await a.scalar(text("SELECT pg_backend_pid()")), await b.scalar(text("SELECT pg_backend_pid()"))]


def backend_cpu(pids: list[int]) -> float | None:
    """CPU seconds (user + system) the server processes used so far; None when the server is
    not on this machine (its /proc is not readable)."""
    total = 0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    except OSError:
        return None
    return total / os.sysconf("SC_CLK_TCK")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--due", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--profile", default=None, help="write a cProfile of the timer passes here")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the bench database (default: drop it)")
    args = parser.parse_args()

    import logging

    from kefu_common.db import Database
    from kefu_common.gctune import tune_gc
    from kefu_common.logging import configure_logging
    from kefu_escalation.app import service
    from kefu_escalation.clocks.projector import ClockProjector

    configure_logging("bench", level="WARNING", fmt="console")
    logging.getLogger().setLevel(logging.WARNING)
    url = await database(args.database_url or os.environ.get("DATABASE_URL"))
    await asyncio.to_thread(service.migrate, url)
    db = Database(url, schema="escalation", pool_size=2)  # one session at a time: these two connections
    try:
        await write_due(db, args.due)
        tune_gc()
        projector = ClockProjector()
        async with db.session() as s:  # warm caches and prepared statements, as a running service has
            await projector.due_ticks(s, now=datetime.now(UTC), limit=args.batch)
        profile = cProfile.Profile() if args.profile else None
        fired, passes = 0, 0
        backends = await backend_pids(db)
        server_cpu = backend_cpu(backends)
        cpu, wall = time.process_time(), time.perf_counter()
        if profile:
            profile.enable()
        while True:
            async with db.session() as s:
                n = await projector.due_ticks(s, now=datetime.now(UTC), limit=args.batch)
            passes += 1
            if not n:
                break
            fired += n
        if profile:
            profile.disable()
            profile.dump_stats(args.profile)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        server_cpu = backend_cpu(backends) - server_cpu if server_cpu is not None else None
        async with db.engine.connect() as c:
            breached = await c.scalar(text("SELECT count(*) FROM escalation.clock_event WHERE kind = 'breached'"))
    finally:
        await db.dispose()
        if not args.keep:
            from kefu_common.embedded import drop_database

            await drop_database(url.rsplit("/", 1)[0] + "/postgres", url.rsplit("/", 1)[1])
    tickets = fired // 2  # a warning and a breach per ticket
    print(json.dumps({"name": "sla_timer_cpu", "tickets": tickets, "events": fired, "breached": breached,
                      "passes": passes, "cpu_ms_per_ticket": round(cpu * 1000 / max(tickets, 1), 4),
                      "server_cpu_ms_per_ticket": None if server_cpu is None else
                      round(server_cpu * 1000 / max(tickets, 1), 4),
                      "wall_ms_per_ticket": round(wall * 1000 / max(tickets, 1), 4)}))


if __name__ == "__main__":
    asyncio.run(main())
