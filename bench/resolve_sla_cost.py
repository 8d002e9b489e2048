"""The CPU a `resolve_sla` costs the escalation process, read from the database vs answered by
the cache of published cells (issue #15's create path; `kefu_escalation.configuration.published_sla`).

    python bench/resolve_sla_cost.py [--calls 3000] [--rounds 3]

Process CPU time (`time.process_time`, less sensitive to a loaded machine than wall time) per
call, in this process, on a fresh migrated database of DATABASE_URL's server (or the embedded
one); PostgreSQL's own CPU for the read (BEGIN, SELECT, COMMIT) comes on top of the "database"
figure and is saved too. Rounds alternate; medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

from kefu_common.db import Database
from kefu_common.embedded import drop_database, ensure_database, start_embedded_postgres
from kefu_common.settings import PROJECT_ROOT
from kefu_escalation.configuration import service
from kefu_escalation.configuration.published_sla import PublishedSlaCache

FIRST_CONTACT = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


async def per_call(db: Database, cells: PublishedSlaCache | None, calls: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        async with db.session() as session:
            await service.resolve_sla(session, tier="standard", sensitive=False, severity="high",
                                      channel="phone", first_contact_at=FIRST_CONTACT, cells=cells)
    return (time.process_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    from kefu_escalation.app import service as escalation

    server = os.environ.get("DATABASE_URL") or start_embedded_postgres(PROJECT_ROOT / ".kefu" / "bench-pgdata")
    name = f"kefu_bench_resolve_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = await ensure_database(server, name)
    await asyncio.to_thread(escalation.migrate, url)
    db = Database(url, schema="escalation", pool_size=2)
    cells = PublishedSlaCache(db)
    await cells.start()
    figures: dict[str, list[tuple[float, float]]] = {"database": [], "cache": []}
    try:
        await per_call(db, None, 200)
        await per_call(db, cells, 200)
        for r in range(args.rounds):
            for side in (["database", "cache"] if r % 2 == 0 else ["cache", "database"]):
                figures[side].append(await per_call(db, cells if side == "cache" else None, args.calls))
    finally:
        await cells.stop()
        await db.dispose()
        await drop_database(server, name)
    med = {side: (statistics.median(c for c, _ in rows), statistics.median(w for _, w in rows))
           for side, rows in figures.items()}
    return {"cpu_us_per_call": {s: round(v[0], 1) for s, v in med.items()},
            "wall_us_per_call": {s: round(v[1], 1) for s, v in med.items()},
            "load_average": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    print(json.dumps(asyncio.run(main_async(parser.parse_args()))))


if __name__ == "__main__":
    main()
