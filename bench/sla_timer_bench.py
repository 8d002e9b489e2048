"""SLA timer lag: the escalation worker vs a bare SKIP LOCKED claim loop, in the same run.

    python bench/sla_timer_bench.py [--active 1000000] [--rate 2000] [--seconds 10] [--rounds 2]

Both sides get the same database, the same number of *active* timers (rows in the timer index
whose deadline lies days ahead) and the same open-loop stream of timers falling due at a
steady `rate` per second for `seconds`. Lag = when the fact was written (wall clock) minus the
instant it was due.

* system: `SlaClockWorker` (clock_worker.py) in this process, exactly as the service runs it:
  it claims `clock_ticket` rows with FOR UPDATE SKIP LOCKED, restores each ticket's clocks from
  its stored snapshot (`clock_state`, as the projection writes it with every event), records
  the breach (and, at 100 % warning, the warning) at its due instant, escalates one level
  (escalation row, level, acknowledgement clock) and queues notifications, in one transaction
  per batch. Lag = `clock_event.recorded_at - at` of the breach. Also reported: the process's
  CPU time per fired timer while the stream falls due (`cpu_ms_per_timer`: the worker's cost,
  far less noisy than the lag on a shared machine).
* baseline: the least a timer can do — `UPDATE ... SET fired_at = clock_timestamp() WHERE id IN
  (SELECT ... WHERE due_at <= now() ... FOR UPDATE SKIP LOCKED)`, sleeping until the next due
  instant. Lag = `fired_at - due_at`.

The active timers are index rows only (`clock_ticket` with a far next_deadline and no
history), because none of them falls due within the run; the due stream has full histories
and the snapshots the projection would have stored.
Rounds alternate baseline and system, after one unrecorded warm-up round per side (caches,
query plans, the first walk of the 1M-row index: the issue asks for a *steady* due rate);
medians of the per-round percentiles are reported.
The last line printed is one JSON object (read by bench/run.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
LEAD_SECONDS = 1.0  # the due stream starts this long (plus 0.1 ms per timer) after it is written


async def database(url_hint: str | None) -> tuple[str, str, str]:
    """(server URL, database name, database URL) of a fresh bench database; drop it at the end."""
    from kefu_common.embedded import ensure_database, start_embedded_postgres

    server = url_hint or start_embedded_postgres(ROOT / ".kefu" / "bench-pgdata")
    name = f"kefu_bench_timers_{uuid.uuid4().hex[:6]}"
    return server, name, await ensure_database(server, name)


def percentiles(lags_ms: list[float]) -> dict[str, float]:
    if not lags_ms:
        return {"p50": float("nan"), "p99": float("nan"), "p999": float("nan"), "n": 0}
    q = statistics.quantiles(lags_ms, n=1000, method="inclusive")
    return {"p50": round(q[499], 2), "p99": round(q[989], 2), "p999": round(q[998], 2), "n": len(lags_ms),
            "max": round(max(lags_ms), 2)}


# ------------------------------------------------------------------------------ baseline


async def baseline_setup(db, active: int) -> None:
    async with db.session() as s:
        c = await s.connection()
        await c.execute(text("CREATE TABLE IF NOT EXISTS public.bench_timer (id bigserial PRIMARY KEY, "
                             "due_at timestamptz NOT NULL, fired_at timestamptz)"))
        await c.execute(text("CREATE INDEX IF NOT EXISTS bench_timer_due ON public.bench_timer (due_at) "
                             "WHERE fired_at IS NULL"))
        await c.execute(text("INSERT INTO public.bench_timer (due_at) SELECT now() + interval '30 days' "
                             "+ g * interval '1 second' FROM generate_series(1, :n) g"), {"n": active})
        await c.execute(text("ANALYZE public.bench_timer"))


async def baseline_round(db, rate: int, seconds: float, batch: int = 200) -> dict[str, float]:
    count = int(rate * seconds)
    start = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS + count / 10_000)  # after the insert
    async with db.session() as s:
        ids = (await (await s.connection()).execute(text(
            "INSERT INTO public.bench_timer (due_at) SELECT CAST(:t0 AS timestamptz) + g * (interval '1 second' / CAST(:rate AS int)) "
            "FROM generate_series(0, :n - 1) g RETURNING id"), {"t0": start, "rate": rate, "n": count})).all()
    first, last = min(i for (i,) in ids), max(i for (i,) in ids)
    end = start + timedelta(seconds=seconds + 30)
    while datetime.now(UTC) < end:
        async with db.session() as s:
            c = await s.connection()
            fired = (await c.execute(text(
                "UPDATE public.bench_timer SET fired_at = clock_timestamp() WHERE id IN (SELECT id FROM "
                "public.bench_timer WHERE fired_at IS NULL AND due_at <= now() ORDER BY due_at LIMIT :b "
                "FOR UPDATE SKIP LOCKED) RETURNING id"), {"b": batch})).all()
            if len(fired) >= batch:
                continue
            nxt = await c.scalar(text("SELECT min(due_at) FROM public.bench_timer WHERE fired_at IS NULL"))
        pending = await _scalar(db, "SELECT count(*) FROM public.bench_timer WHERE id BETWEEN :a AND :b "
                                    "AND fired_at IS NULL", {"a": first, "b": last})
        if not pending:
            break
        await asyncio.sleep(max(0.0, min(1.0, (nxt - datetime.now(UTC)).total_seconds())) if nxt else 0.01)
    async with db.engine.connect() as c:
        lags = [float(x) for (x,) in (await c.execute(text(
            "SELECT extract(epoch FROM fired_at - due_at) * 1000 FROM public.bench_timer "
            "WHERE id BETWEEN :a AND :b AND fired_at IS NOT NULL"), {"a": first, "b": last})).all()]
    return percentiles(lags)


async def _scalar(db, sql: str, params: dict) -> int:
    async with db.engine.connect() as c:
        return int(await c.scalar(text(sql), params) or 0)


# ------------------------------------------------------------------------------ system


async def system_setup(db, active: int) -> None:
    async with db.session() as s:
        await (await s.connection()).execute(text(
            "INSERT INTO escalation.clock_ticket (ticket_id, last_sequence, next_deadline, updated_at, level) "
            "SELECT gen_random_uuid(), 0, now() + interval '30 days' + g * interval '1 second', now(), 'L0' "
            "FROM generate_series(1, :n) g"), {"n": active})
        await (await s.connection()).execute(text("ANALYZE escalation.clock_ticket"))


def due_stream(tickets: list[uuid.UUID], start: datetime, rate: int) -> tuple[list[dict], list[dict]]:
    """The rows the projection would have stored for tickets falling due at `rate` per second
    from `start`: one policy for every ticket (a 1-hour first response, warning at 100 %),
    tickets opened one after another, as in production, so each falls due an hour after its
    own first contact. Returns (clock_ticket rows with their state snapshot, clock_event rows)."""
    from kefu_escalation.configuration.calendars import BusinessCalendar
    from kefu_escalation.clocks.projector import calendar_to_spec, encode_calendar, encode_state
    from kefu_escalation.clocks.model import Target, TicketClocks

    calendar = BusinessCalendar.always()
    spec = json.dumps(calendar_to_spec(calendar))
    policy = Target("first_response", timedelta(hours=1), warning_percent=100)
    target = {"name": "first_response", "duration_seconds": 3600, "pauses_when_pending": False,
              "warning_percent": 100}
    def state(opened: datetime) -> str | None:
        clocks = TicketClocks()
        return encode_state(clocks.append(clocks.open_cycle(opened, [policy], calendar)))

    # Every snapshot is the first one with its instants moved (they are all the opening
    # instant); checked against the model for the first and the last ticket.
    reference = start - timedelta(hours=1)
    template = state(reference)
    clocks = TicketClocks()
    calendar_json = encode_calendar(clocks.append(clocks.open_cycle(reference, [policy], calendar)))
    rows_ticket, rows_event = [], []
    for i, t in enumerate(tickets):
        due = start + timedelta(seconds=i / rate)
        opened = due - timedelta(hours=1)
        rows_ticket.append({"t": t, "d": due, "state": template.replace(reference.isoformat(), opened.isoformat()),
                            "cal": calendar_json})
        rows_event.append({"t": t, "k": "cycle_opened", "target": None, "at": opened,
                           "d": f'{{"calendar": {spec}, "targets": [{json.dumps(target)}], "reopen": false}}'})
        rows_event.append({"t": t, "k": "started", "target": "first_response", "at": opened,
                           "d": json.dumps({"definition": target, "paused": False})})
    for row, i in ((rows_ticket[0], 0), (rows_ticket[-1], len(tickets) - 1)):
        assert row["state"] == state(start + timedelta(seconds=i / rate) - timedelta(hours=1))
    return rows_ticket, rows_event


async def write_due_stream(c, tickets: list[uuid.UUID], start: datetime, rate: int) -> None:
    rows_ticket, rows_event = due_stream(tickets, start, rate)
    await c.execute(text(
        "INSERT INTO escalation.clock_event (ticket_id, cycle, kind, target, at, details) "
        "VALUES (:t, 1, :k, :target, :at, CAST(:d AS jsonb))"), rows_event)
    await c.execute(text(
        "INSERT INTO escalation.clock_ticket (ticket_id, last_sequence, next_deadline, updated_at, level, "
        "calendar, ack_seconds, team, clock_state, clock_calendar) VALUES (:t, 0, :d, now(), 'L0', '24x7', 86400, "
        "'bench', CAST(:state AS jsonb), CAST(:cal AS jsonb))"), rows_ticket)


async def system_round(db, rate: int, seconds: float, replicas: int = 1, batch: int = 200) -> dict[str, float]:
    from kefu_common.clock import SystemClock
    from kefu_common.gctune import tune_gc
    from kefu_escalation.clocks.timer import SlaClockWorker

    count = int(rate * seconds)
    tune_gc()  # as the service does once it is built (kefu_common.runner)
    workers = [SlaClockWorker(db, SystemClock(), interval=1.0, batch=batch) for _ in range(replicas)]
    for worker in workers:  # a running service: started before the stream is written
        await worker.start()
    # after the rows and their snapshots are written (0.2 ms per timer: room for a loaded host)
    start = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS + count / 5_000)
    tickets = [uuid.uuid4() for _ in range(count)]
    async with db.session() as s:
        c = await s.connection()
        await write_due_stream(c, tickets, start, rate)
        await c.execute(text("SELECT pg_notify('kefu_escalation_timer', '')"))  # as a projection would
    if datetime.now(UTC) >= start:
        raise RuntimeError("writing the due stream took longer than its lead time; raise LEAD_SECONDS")
    cpu = time.process_time()  # the workers' (and this loop's few look-ups') CPU from here on
    try:
        end = time.monotonic() + seconds + 120
        while time.monotonic() < end:
            await asyncio.sleep(0.5)
            if datetime.now(UTC) < start + timedelta(seconds=seconds):
                continue
            done = await _scalar(db, "SELECT count(*) FROM escalation.clock_event WHERE kind = 'breached' "
                                     "AND ticket_id = ANY(:t)", {"t": tickets})
            if done >= count:
                break
    finally:
        cpu = time.process_time() - cpu
        for worker in workers:
            await worker.stop()
    async with db.engine.connect() as c:
        lags = [float(x) for (x,) in (await c.execute(text(
            "SELECT extract(epoch FROM recorded_at - at) * 1000 FROM escalation.clock_event "
            "WHERE kind = 'breached' AND ticket_id = ANY(:t)"), {"t": tickets})).all()]
    result = percentiles(lags)
    result["fired_share"] = round(len(lags) / count, 4)
    result["cpu_ms_per_timer"] = round(cpu * 1000 / max(len(lags), 1), 4)
    return result


# ------------------------------------------------------------------------------ main


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--active", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=1, help="workers in this process (as replicas would)")
    parser.add_argument("--batch", type=int, default=200, help="due tickets per timer transaction")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds of an unrecorded first round per side (0: none)")
    parser.add_argument("--database-url", default=None, help="server to create the bench database on "
                        "(default: DATABASE_URL, else the embedded PostgreSQL)")
    args = parser.parse_args()

    import logging
    import os

    from kefu_common.db import Database
    from kefu_common.embedded import drop_database
    from kefu_common.logging import configure_logging
    from kefu_escalation.app import service

    configure_logging("bench", level="WARNING", fmt="console")
    logging.getLogger().setLevel(logging.WARNING)
    server, name, url = await database(args.database_url or os.environ.get("DATABASE_URL"))
    db: Database | None = None
    try:
        await asyncio.to_thread(service.migrate, url)
        db = Database(url, schema="escalation", pool_size=4)
        t = time.perf_counter()
        await baseline_setup(db, args.active)
        await system_setup(db, args.active)
        print(f"setup: {args.active:,} active timers on each side in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        if args.warmup > 0:  # steady state is measured: one unrecorded round per side first
            warm = (await baseline_round(db, args.rate, args.warmup),
                    await system_round(db, args.rate, args.warmup, args.replicas, args.batch))
            print(f"warm-up (not counted): baseline {warm[0]}  system {warm[1]}", file=sys.stderr)
        base, system = [], []
        for r in range(args.rounds):
            base.append(await baseline_round(db, args.rate, args.seconds))
            system.append(await system_round(db, args.rate, args.seconds, args.replicas, args.batch))
            print(f"round {r + 1}: baseline {base[-1]}  system {system[-1]}", file=sys.stderr)
    finally:
        if db is not None:
            await db.dispose()
        await drop_database(server, name)  # two million rows a run: never leave them behind

    def med(rows: list[dict[str, float]], key: str) -> float:
        return round(statistics.median(x[key] for x in rows), 2)

    summary = {
        "name": "sla_timer_lag",
        "unit": "ms (p99 lag, deadline -> recorded)",
        "system": med(system, "p99"),
        "baseline": med(base, "p99"),
        "ratio": round(med(system, "p99") / max(med(base, "p99"), 0.01), 2),
        "target": "system p99 < 50 ms",
        "met": med(system, "p99") < 50,
        "detail": {
            "active_timers": args.active, "rate_per_s": args.rate, "replicas": args.replicas, "batch": args.batch, "seconds": args.seconds, "rounds": args.rounds,
            "system": {k: med(system, k) for k in ("p50", "p99", "p999")},
            "baseline": {k: med(base, k) for k in ("p50", "p99", "p999")},
            "system_fired_share": med(system, "fired_share"),
            "system_cpu_ms_per_timer": med(system, "cpu_ms_per_timer"),
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    asyncio.run(main())
