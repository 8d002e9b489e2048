"""Console panels over 30 days vs a bare GROUP BY date_trunc over the same rows, in one run.

    python bench/console_bench.py [--tickets 1000000] [--evaluations 1000000] [--rounds 5]

Generates, straight into a fresh database (every service's migrations applied; INSERT ...
SELECT generate_series, foreign-key triggers off while loading, then ANALYZE), `tickets`
tickets over the 365 days before NOW with their status changes (new, resolved, closed,
reopened), contacts (inbound, outbound), SLA clock events (cycle opened, first response and
resolution met or ended late, breaches) and escalations, and `evaluations` QA evaluations with
0–3 rule hits each. Then, over the last 30 local days (Asia/Shanghai, day buckets), each
console panel's query exactly as the service runs it (the `kefu_*` report functions on a
session: SQL plus the Python that shapes the rows) is timed next to the baseline of its table:

    SELECT date_trunc('day', ts AT TIME ZONE 'Asia/Shanghai'), count(*) FROM <table>
    WHERE ts >= <30 days ago> AND ts < <now> GROUP BY 1

Each panel runs with `compare=previous` (it also aggregates the 30 days before: twice the
rows of the baseline) and with `compare=none`; the target is each panel within 3x its baseline.
Rounds alternate baseline and panel after one unrecorded warm-up; medians are reported. The
database is dropped at the end. The last line printed is one JSON object (bench/run.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
TZ = "Asia/Shanghai"
END = date(2026, 12, 1)  # the range is the 30 local days before END; data spans the year before
NOW = datetime(2026, 12, 1, tzinfo=ZoneInfo(TZ))
TARGET = 3.0

_TICKETS = """
INSERT INTO ticketing.ticket (id, status, customer_id, customer_tier, channel, severity, category,
    subject, reopen_count, assignee_id, team, first_contact_at, first_response_at, resolved_at,
    closed_at, created_at, updated_at)
SELECT id, status, 'C-' || (g % 200000), 'standard',
       (ARRAY['phone','chat','app','wechat','email','web'])[1 + g % 6], 'normal',
       (ARRAY['product','quality','logistics','refund','billing','service_attitude','other'])[1 + g % 7],
       'bench', CASE WHEN g % 20 = 0 THEN 1 ELSE 0 END, 'agent-' || (g % 300), 'team-' || (g % 12),
       c - interval '10 minutes', c + r1 * interval '2 hours',
       CASE WHEN status IN ('resolved', 'closed') THEN c + r2 * interval '96 hours' END,
       CASE WHEN status = 'closed' THEN c + r2 * interval '96 hours' + r3 * interval '48 hours' END,
       c, c
FROM (
    SELECT g, gen_random_uuid() AS id, CAST(:now AS timestamptz) - random() * interval '365 days' AS c,
           random() AS r1, random() AS r2, random() AS r3,
           CASE WHEN g % 100 < 80 THEN 'closed' WHEN g % 100 < 92 THEN 'resolved'
                WHEN g % 100 < 96 THEN 'open' WHEN g % 100 < 98 THEN 'pending_customer'
                ELSE 'new' END AS status
    FROM generate_series(1, :n) g
) x
"""

_STATUS_CHANGES = """
INSERT INTO ticketing.status_change (ticket_id, from_status, to_status, actor, at)
SELECT t.id, v.f, v.s, 'bench', v.at
FROM ticketing.ticket t
CROSS JOIN LATERAL (VALUES
    (NULL, 'new', t.created_at, true),
    ('open', 'resolved', t.resolved_at - interval '3 hours', t.reopen_count = 1 AND t.resolved_at IS NOT NULL),
    ('resolved', 'reopened', t.resolved_at - interval '2 hours', t.reopen_count = 1 AND t.resolved_at IS NOT NULL),
    ('reopened', 'resolved', t.resolved_at, t.resolved_at IS NOT NULL),
    ('resolved', 'closed', t.closed_at, t.closed_at IS NOT NULL)
) AS v(f, s, at, keep)
WHERE v.keep
"""

_CONTACTS = """
INSERT INTO ticketing.contact (id, ticket_id, direction, channel, occurred_at, initial)
SELECT gen_random_uuid(), t.id, v.d, 'phone', v.at, v.initial
FROM (SELECT id, first_contact_at, number FROM ticketing.ticket) t
CROSS JOIN LATERAL (VALUES
    ('inbound', t.first_contact_at, true, true),
    ('inbound', t.first_contact_at + interval '5 hours', false, t.number % 5 = 0),
    ('outbound', t.first_contact_at + interval '1 hour', false, t.number % 3 = 0)
) AS v(d, at, initial, keep)
WHERE v.keep
"""

_CLOCK_EVENTS = """
INSERT INTO escalation.clock_event (ticket_id, cycle, kind, target, at, details)
SELECT t.id, 1, v.k, v.target, v.at, '{}'::jsonb
FROM ticketing.ticket t
CROSS JOIN LATERAL (VALUES
    ('cycle_opened', NULL, t.first_contact_at, true),
    (CASE WHEN t.first_response_at <= t.first_contact_at + interval '1 hour' THEN 'met' ELSE 'stopped' END,
     'first_response', t.first_response_at, true),
    ('breached', 'first_response', t.first_contact_at + interval '1 hour',
     t.first_response_at > t.first_contact_at + interval '1 hour'),
    (CASE WHEN t.resolved_at <= t.first_contact_at + interval '72 hours' THEN 'met' ELSE 'stopped' END,
     'resolution', t.resolved_at, t.resolved_at IS NOT NULL),
    ('breached', 'resolution', t.first_contact_at + interval '72 hours',
     t.resolved_at > t.first_contact_at + interval '72 hours')
) AS v(k, target, at, keep)
WHERE v.keep
"""

_ESCALATIONS = """
INSERT INTO escalation.escalation (id, ticket_id, cycle, trigger, trigger_key, from_level, to_level,
    to_party, team, reason, actor, created_at, calendar, ack_due_at, acknowledged_at, status)
SELECT gen_random_uuid(), t.id, 1, 'breach', 'breach:resolution', 'L0',
       (ARRAY['L1','L2','L3'])[1 + t.number % 3], 'team_lead', t.team, '', 'bench',
       t.created_at + interval '1 hour', '24x7', t.created_at + interval '90 minutes',
       CASE WHEN t.number % 50 <> 0 THEN t.created_at + interval '70 minutes' END,
       CASE WHEN t.number % 50 <> 0 THEN 'acknowledged' ELSE 'open' END
FROM ticketing.ticket t WHERE t.number % 12 = 0
"""

_EVALUATIONS = """
INSERT INTO scoring.evaluation (id, request_id, request_hash, agent_id, ruleset_id, ruleset_version,
    total_score, grade, hits, fatal, category, channel, created_at, started_at)
SELECT gen_random_uuid(), 'bench-' || g, '', 'agent-' || (g % 300), 'default', 1, s,
       CASE WHEN s >= 90 THEN 'A' WHEN s >= 75 THEN 'B' WHEN s >= 60 THEN 'C' ELSE 'D' END,
       CASE g % 4
           WHEN 0 THEN '[]'::jsonb
           WHEN 1 THEN jsonb_build_array(jsonb_build_object('rule_id', 'rule-' || (g * 7 % 25), 'points', -5))
           WHEN 2 THEN jsonb_build_array(jsonb_build_object('rule_id', 'rule-' || (g * 7 % 25), 'points', -5),
                                         jsonb_build_object('rule_id', 'rule-' || (g * 11 % 25), 'points', -5))
           ELSE jsonb_build_array(jsonb_build_object('rule_id', 'rule-' || (g * 7 % 25), 'points', -5),
                                  jsonb_build_object('rule_id', 'rule-' || (g * 11 % 25), 'points', -5),
                                  jsonb_build_object('rule_id', 'rule-' || (g * 13 % 25), 'points', -10))
       END,
       g % 50 = 0, (ARRAY['product','quality','logistics','refund'])[1 + g % 4], 'phone', c, c
FROM (SELECT g, round((30 + random() * 70)::numeric, 1)::float8 AS s,
             CAST(:now AS timestamptz) - random() * interval '365 days' AS c
      FROM generate_series(1, :n) g) x
"""

# The read models (ticketing.report_fact, scoring.evaluation_hit) are kept by triggers, which
# are off during the load: they are rebuilt from the loaded rows by the same functions their
# migrations backfill with.
_REBUILDS = (("report_fact", "SELECT ticketing.report_fact_rebuild()"),
             ("evaluation_hit", "SELECT scoring.evaluation_hit_rebuild()"))

_LOADED = ("ticketing.ticket", "ticketing.status_change", "ticketing.contact",
           "escalation.clock_event", "escalation.escalation", "scoring.evaluation",
           "ticketing.report_fact", "scoring.evaluation_hit")

BARE = """
SELECT date_trunc('day', {ts} AT TIME ZONE :tz) AS d, count(*) FROM {table}
WHERE {ts} >= :lo AND {ts} < :hi GROUP BY 1
"""


async def database(url_hint: str | None) -> tuple[str, str, str]:
    from kefu_common.embedded import ensure_database, start_embedded_postgres

    server = url_hint or start_embedded_postgres(ROOT / ".kefu" / "bench-pgdata")
    name = f"kefu_bench_console_{uuid.uuid4().hex[:6]}"
    return server, name, await ensure_database(server, name)


async def generate(db: Any, tickets: int, evaluations: int) -> dict[str, int]:
    steps = [("ticket", _TICKETS, {"n": tickets}), ("status_change", _STATUS_CHANGES, {}),
             ("contact", _CONTACTS, {}), ("clock_event", _CLOCK_EVENTS, {}),
             ("escalation", _ESCALATIONS, {}), ("evaluation", _EVALUATIONS, {"n": evaluations})]
    counts: dict[str, int] = {}
    async with db.engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))  # no FK triggers
        await conn.execute(text("SELECT setseed(0.42)"))
        # secondary indexes are built once after the load (faster than row by row)
        indexes = (await conn.execute(text(
            "SELECT i.schemaname, i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.schemaname || '.' || i.tablename = ANY(:t) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"),
            {"t": list(_LOADED)})).all()
        for schema, index, _ in indexes:
            await conn.execute(text(f'DROP INDEX "{schema}"."{index}"'))
        for name, sql, params in steps:
            t = time.perf_counter()
            result = await conn.execute(text(sql), {"now": NOW, **params})
            counts[name] = result.rowcount
            print(f"  {name}: {result.rowcount:,} rows in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        for name, sql in _REBUILDS:
            t = time.perf_counter()
            counts[name] = (await conn.execute(text(sql))).scalar_one()
            print(f"  {name} (rebuilt): {counts[name]:,} rows in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        t = time.perf_counter()
        for _, _, definition in indexes:
            await conn.execute(text(definition))
        print(f"  {len(indexes)} indexes rebuilt in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in _LOADED:
            await conn.execute(text(f"VACUUM ANALYZE {table}"))
    return counts


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    t = time.perf_counter()
    await call()
    return (time.perf_counter() - t) * 1000


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    import logging
    import os

    from kefu_common.db import Database
    from kefu_common.embedded import drop_database
    from kefu_common.logging import configure_logging
    from kefu_common.periods import plan
    from kefu_escalation.read_models import reports as esc_reports
    from kefu_escalation.app import service as escalation
    from kefu_scoring import reports as qa_reports
    from kefu_scoring.app import service as scoring
    from kefu_ticketing import backlog, metrics
    from kefu_ticketing.app import service as ticketing

    configure_logging("bench", level="WARNING", fmt="console")
    logging.getLogger().setLevel(logging.WARNING)
    server, name, url = await database(args.database_url or os.environ.get("DATABASE_URL"))
    dbs: list[Database] = []
    panels: dict[str, dict[str, Any]] = {}
    try:
        for svc in (ticketing, escalation, scoring):
            await asyncio.to_thread(svc.migrate, url)
        tdb, edb, sdb = (Database(url, schema=s, pool_size=2) for s in ("ticketing", "escalation", "scoring"))
        dbs += [tdb, edb, sdb]
        t = time.perf_counter()
        counts = await generate(tdb, args.tickets, args.evaluations)
        print(f"generated in {time.perf_counter() - t:.1f}s (load average {os.getloadavg()})", file=sys.stderr)

        start = END - timedelta(days=30)
        with_prev = plan(start, END, tz=TZ, unit="day", compare="previous")
        no_prev = plan(start, END, tz=TZ, unit="day", compare="none")
        # the distribution panel is one histogram per agent over the range (no day buckets)
        whole = {"previous": plan(start, END, tz=TZ, compare="previous"),
                 "none": plan(start, END, tz=TZ, compare="none")}
        lo, hi = no_prev.utc_bounds()

        def bare(db: Database, table: str, ts: str) -> Callable[[], Awaitable[Any]]:
            async def run() -> Any:
                async with db.session() as s:
                    return (await (await s.connection()).execute(
                        text(BARE.format(table=table, ts=ts)), {"tz": TZ, "lo": lo, "hi": hi})).all()
            return run

        def on(db: Database, fn: Callable[..., Awaitable[Any]], **kw: Any) -> Callable[[Any], Callable[[], Awaitable[Any]]]:
            def with_plan(p: Any) -> Callable[[], Awaitable[Any]]:
                async def run() -> Any:
                    async with db.session() as s:
                        return await fn(s, p, **kw) if p is not None else await fn(s, **kw)
                return run
            return with_plan

        tickets_bare = bare(tdb, "ticketing.ticket", "created_at")
        status_bare = bare(tdb, "ticketing.status_change", "at")
        events_bare = bare(edb, "escalation.clock_event", "at")
        evals_bare = bare(sdb, "scoring.evaluation", "started_at")  # what the QA panels read
        cases: list[tuple[str, Callable[[Any], Callable[[], Awaitable[Any]]], Callable[[], Awaitable[Any]], bool]] = [
            ("ticket_flow", on(tdb, metrics.ticket_series, report=metrics.Report.FLOW, group_by=None), status_bare, True),
            ("service_metrics", on(tdb, metrics.ticket_series, report=metrics.Report.SERVICE_METRICS, group_by=None),
             status_bare, True),
            ("service_metrics_by_team", on(tdb, metrics.ticket_series, report=metrics.Report.SERVICE_METRICS,
                                           group_by="team"), status_bare, True),
            ("resolution_time", on(tdb, metrics.ticket_series, report=metrics.Report.RESOLUTION_TIME, group_by=None),
             status_bare, True),
            ("sla_attainment", on(edb, esc_reports.attainment_series, by_team=False), events_bare, True),
            ("escalations", on(edb, esc_reports.escalation_series, by_team=False), events_bare, True),
            ("qa_scores", on(sdb, qa_reports.qa_series, report=qa_reports.QaReport.SCORES, group_by=""),
             evals_bare, True),
            ("qa_distribution_by_agent",
             lambda p: on(sdb, qa_reports.qa_series, report=qa_reports.QaReport.DISTRIBUTION, group_by="agent")(
                 whole[p.compare.value]), evals_bare, True),
            ("rule_hits", on(sdb, qa_reports.qa_series, report=qa_reports.QaReport.RULE_HITS), evals_bare, True),
            # "now" panels: no range; timed next to the tickets' bare query for scale
            ("backlog_now", lambda _p: on(tdb, backlog.backlog, now=NOW, group_by=None)(None), tickets_bare, False),
            ("unacknowledged_escalations", lambda _p: on(edb, esc_reports.unacknowledged, limit=50)(None),
             tickets_bare, False),
        ]
        for label, make, baseline, ranged in cases:
            if args.only and label not in args.only:
                continue
            variants = [("previous", with_prev), ("none", no_prev)] if ranged else [("now", None)]
            row: dict[str, Any] = {}
            for variant, p in variants:
                system = make(p)
                await timed(baseline), await timed(system)  # warm-up, not counted
                base_ms, sys_ms = [], []
                for _ in range(args.rounds):
                    base_ms.append(await timed(baseline))
                    sys_ms.append(await timed(system))
                b, s = statistics.median(base_ms), statistics.median(sys_ms)
                row[variant] = {"panel_ms": round(s, 1), "bare_ms": round(b, 1), "ratio": round(s / b, 2)}
            row["load_average"] = [round(x, 2) for x in os.getloadavg()]
            panels[label] = row
            print(f"{label}: {row}", file=sys.stderr)
    finally:
        for db in dbs:
            await db.dispose()
        if args.keep:
            print(f"kept database {name} (drop it yourself)", file=sys.stderr)
        else:
            await drop_database(server, name)  # millions of rows a run: never leave them behind

    ranged = {k: v["previous"] for k, v in panels.items() if "previous" in v}
    worst = max(ranged, key=lambda k: ranged[k]["ratio"]) if ranged else None
    return {
        "name": "console_panels_30d",
        "unit": "ms (slowest panel vs its bare GROUP BY date_trunc, compare=previous)",
        "system": ranged[worst]["panel_ms"] if worst else None,
        "baseline": ranged[worst]["bare_ms"] if worst else None,
        "ratio": ranged[worst]["ratio"] if worst else None,
        "target": f"<= {TARGET:g} (each panel)",
        "met": all(v[variant]["ratio"] <= TARGET for v in panels.values()
                   for variant in ("previous", "none") if variant in v),
        "slowest": worst,
        "rows": counts,
        "panels": panels,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/console_bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--evaluations", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database (to EXPLAIN)")
    parser.add_argument("--only", type=lambda s: s.split(","), default=None, help="panel names")
    parser.add_argument("--database-url", default=None, help="server to create the bench database on "
                        "(default: DATABASE_URL, else the embedded PostgreSQL)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), default=str))


if __name__ == "__main__":
    main()
