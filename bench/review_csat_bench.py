"""Console panels of the review queue and CSAT over 30 days vs a bare GROUP BY date_trunc.

    .venv/bin/python bench/review_csat_bench.py [--rows 1000000] [--rounds 5] [--database-url URL]

A fresh database (dropped at the end) holds `--rows` evaluations over 90 days (2 % fatal, 5 %
with a risk flag, 10 teams) and `--rows` ticket cycles with a rating each (10 % changed once),
all written by SQL. Each panel's query is the service function the RPC runs (SQL and the
Python around it, in-process, no gRPC/HTTP), timed against the issue's baseline: a bare
`SELECT date_trunc('day', ts AT TIME ZONE 'Asia/Shanghai'), count(*) ... GROUP BY 1` over the
same rows (the same table and period). Medians over rounds, alternating sides. Acceptance
(issue #12): each panel within 3x its baseline.

Panels: the review queue's first page (share 0.1, 30 days), the evaluations list's first page
(30 days, one team), the open appeals' first page, and the CSAT report over 30 days by day
without and with the previous period (the latter reads 60 days and is compared with a bare
GROUP BY over those 60 days). The last stdout line is the JSON row `make bench` collects.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
TZ = "Asia/Shanghai"


async def database(url_hint: str | None) -> tuple[str, str, str]:
    from kefu_common.embedded import ensure_database, start_embedded_postgres

    server = url_hint or start_embedded_postgres(ROOT / ".kefu" / "bench-pgdata")
    name = f"kefu_bench_review_{uuid.uuid4().hex[:6]}"
    return server, name, await ensure_database(server, name)


EVALUATIONS = """
INSERT INTO scoring.evaluation (id, request_id, request_hash, conversation_id, ticket_id, agent_id, team,
    ruleset_id, ruleset_version, total_score, grade, hits, dimensions, fatal, not_applicable, emotion, language,
    risk_flags, signal_ids, category, channel, turns, created_at)
SELECT gen_random_uuid(), 'bench-' || i, '', '', 'T-' || i, 'agent-' || (i % 200), 'team-' || (i % 10),
       'default', 1, CASE WHEN i % 50 = 0 THEN 0 ELSE 60 + i % 40 END,
       CASE WHEN i % 50 = 0 THEN 'D' WHEN i % 40 >= 30 THEN 'A' WHEN i % 40 >= 20 THEN 'B' ELSE 'C' END,
       CASE WHEN i % 50 = 0 THEN '[{"rule_id": "agent-abuse", "points": -25}]'::jsonb
            WHEN i % 3 = 0 THEN '[{"rule_id": "forbidden-phrases", "points": -5}]'::jsonb ELSE '[]'::jsonb END,
       '[]'::jsonb, i % 50 = 0, '[]'::jsonb, '{}'::jsonb, 'zh',
       CASE WHEN i % 20 = 0 THEN '["regulator"]'::jsonb ELSE '[]'::jsonb END, '[]'::jsonb, 'quality', 'phone',
       '[]'::jsonb, CAST(:now AS timestamptz) - (i % 129600) * interval '1 minute' - (i / 129600) * interval '1 second'
FROM generate_series(1, :n) AS i
"""
TICKETS = """
INSERT INTO ticketing.ticket (id, status, customer_id, customer_name, customer_tier, customer_sensitive,
    customer_phone, customer_email, channel, severity, category, subject, description, tags, reopen_count,
    version, sla, assignee_id, assignee_name, assignee_skill_level, team, created_by, first_contact_at,
    resolved_at, created_at, updated_at)
SELECT gen_random_uuid(), 'resolved', 'C-' || i, '', 'standard', false, '', '', 'app', 'normal', 'quality', 's', '',
       '{}', 0, 1, '{}'::jsonb, 'agent-' || (i % 200), '', 1, 'team-' || (i % 10), '', :now, :now, :now, :now
FROM generate_series(1, :n) AS i
"""
RATINGS = """
INSERT INTO ticketing.rating (id, ticket_id, cycle, revision, score, nps, comment, source, rater, dissatisfied,
    latest, team, agent_id, category, channel, created_at)
SELECT gen_random_uuid(), t.id, 1, r.revision, 1 + (t.number + r.revision) % 5,
       CASE WHEN t.number % 3 = 0 THEN NULL ELSE t.number % 11 END, '', 'customer', 'customer:x',
       (1 + (t.number + r.revision) % 5) <= 2, r.revision = CASE WHEN t.number % 10 = 0 THEN 2 ELSE 1 END, t.team, t.assignee_id, t.category, t.channel,
       CAST(:now AS timestamptz) - (t.number % 129600) * interval '1 minute' + (r.revision - 1) * interval '1 day'
FROM ticketing.ticket t CROSS JOIN LATERAL (
    SELECT generate_series(1, CASE WHEN t.number % 10 = 0 THEN 2 ELSE 1 END) AS revision) r
"""


async def setup(url: str, rows: int, now: datetime) -> None:
    from kefu_common.db import Database

    db = Database(url, schema="scoring", pool_size=2)
    try:
        async with db.session() as session:
            conn = await session.connection()
            await conn.execute(text(EVALUATIONS), {"n": rows, "now": now})
            await conn.execute(text(TICKETS), {"n": rows, "now": now})
            await conn.execute(text(RATINGS), {"now": now})
            # Appeals on 1 % of the evaluations, half decided.
            await conn.execute(text(
                "INSERT INTO scoring.appeal (id, evaluation_id, hit_index, appellant, reason, status, created_at) "
                "SELECT gen_random_uuid(), id, 0, agent_id, 'r', CASE WHEN random() < 0.5 THEN 'open' "
                "ELSE 'rejected' END, created_at + interval '1 hour' FROM scoring.evaluation "
                "WHERE jsonb_array_length(hits) > 0 AND random() < 0.03"))
        async with db.engine.connect() as conn:
            await conn.execute(text("COMMIT"))
            for table in ("scoring.evaluation", "scoring.appeal", "ticketing.ticket", "ticketing.rating"):
                await conn.execute(text(f"VACUUM ANALYZE {table}"))
    finally:
        await db.dispose()


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    t = time.perf_counter()
    await fn()
    return (time.perf_counter() - t) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from kefu_common import periods
    from kefu_common.db import Database
    from kefu_common.embedded import drop_database
    from kefu_scoring import review_queue
    from kefu_scoring.app import service as scoring_service
    from kefu_ticketing import ratings
    from kefu_ticketing.app import service as ticketing_service

    server, name, url = await database(args.database_url or os.environ.get("DATABASE_URL"))
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.astimezone(periods.zone(TZ)).date()
    start_day = today - timedelta(days=29)
    lo, hi = periods.local_midnight(start_day, periods.zone(TZ)), periods.local_midnight(today + timedelta(days=1),
                                                                                         periods.zone(TZ))
    lo60 = lo - timedelta(days=30)
    scoring = ticketing = None
    try:
        for svc in (scoring_service, ticketing_service):
            await asyncio.to_thread(svc.migrate, url)
        t = time.perf_counter()
        await setup(url, args.rows, now)
        print(f"setup: {args.rows:,} evaluations and rated cycles in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        scoring = Database(url, schema="scoring", pool_size=2)
        ticketing = Database(url, schema="ticketing", pool_size=2)

        def bare(db: Database, table: str, column: str, since: datetime) -> Callable[[], Awaitable[Any]]:
            sql = text(f"SELECT date_trunc('day', {column} AT TIME ZONE :tz) AS d, count(*) FROM {table} "
                       f"WHERE {column} >= :lo AND {column} < :hi GROUP BY 1")

            async def run() -> Any:
                async with db.session() as s:
                    return (await s.exec(sql, params={"tz": TZ, "lo": since, "hi": hi})).all()  # type: ignore[call-overload]
            return run

        period = review_queue.EvaluationFilter(start=lo, end=hi)

        async def queue() -> Any:
            async with scoring.session() as s:
                return await review_queue.review_queue(s, period, share=0.1, seed="bench", page_size=50)

        async def listed() -> Any:
            async with scoring.session() as s:
                f = review_queue.EvaluationFilter(start=lo, end=hi, team="team-3")
                return await review_queue.list_evaluations(s, f, page_size=50)

        async def appeals() -> Any:
            async with scoring.session() as s:
                return await review_queue.list_appeals(s, page_size=50)

        def csat(compare: str) -> Callable[[], Awaitable[Any]]:
            plan = periods.plan(start_day, today + timedelta(days=1), tz=TZ, unit="day", compare=compare)

            async def run() -> Any:
                async with ticketing.session() as s:
                    return await ratings.csat_report(s, plan, group_by="team")
            return run

        pairs = {
            "review_queue_page": (queue, bare(scoring, "scoring.evaluation", "created_at", lo)),
            "evaluations_page_one_team": (listed, bare(scoring, "scoring.evaluation", "created_at", lo)),
            "open_appeals_page": (appeals, bare(scoring, "scoring.appeal", "created_at", lo)),
            "csat_30_days_by_day": (csat("none"), bare(ticketing, "ticketing.rating", "created_at", lo)),
            "csat_30_days_with_previous": (csat("previous"), bare(ticketing, "ticketing.rating", "created_at", lo60)),
        }
        results: dict[str, dict[str, float]] = {}
        for label, (system, baseline) in pairs.items():
            await system()
            await baseline()  # warm both
            sys_ms, base_ms = [], []
            for r in range(args.rounds):
                order = [(system, sys_ms), (baseline, base_ms)]
                for fn, out in order if r % 2 == 0 else reversed(order):
                    out.append(await timed(fn))
            s, b = statistics.median(sys_ms), statistics.median(base_ms)
            results[label] = {"system_ms": round(s, 2), "baseline_ms": round(b, 2), "ratio": round(s / b, 3)}
            print(f"{label}: system {s:.1f} ms, bare GROUP BY {b:.1f} ms, ratio {s / b:.3f}", file=sys.stderr)
    finally:
        for db in (scoring, ticketing):
            if db is not None:
                await db.dispose()
        await drop_database(server, name)

    worst = max(results.values(), key=lambda r: r["ratio"])
    print(json.dumps({
        "name": "review_csat_panels",
        "unit": "ms (median per query, 30 days)",
        "system": worst["system_ms"],
        "baseline": worst["baseline_ms"],
        "ratio": worst["ratio"],
        "target": "each panel <= 3x a bare GROUP BY date_trunc over the same rows",
        "met": all(r["ratio"] <= 3 for r in results.values()),
        "detail": {"rows": args.rows, "rounds": args.rounds, "day": date.today().isoformat(), **results},
    }))


if __name__ == "__main__":
    asyncio.run(main())
