"""`make bench`: every benchmark next to its bare baseline, measured in the same run.

    python bench/run.py [--rounds 3] [--seconds 2.5] [--only grpc,create,create_floor,poll] [--no-external]

Pairs (system vs baseline), each measured for several rounds, alternating which side goes
first, and reported as the median over rounds:

  grpc    ticketing GetTicket on a real in-process server + PostgreSQL  vs  bare grpc.aio echo
  create  POST /v1/tickets through the gateway process, end to end     vs  bare asyncpg insert
  create_floor  bare ASGI -> bare gRPC -> one asyncpg insert (the floor) vs  bare asyncpg insert
  poll    customer progress poll with If-None-Match (304) via the gateway  vs  bare ASGI hello

For each pair: throughput (closed loop, fixed concurrency; the ratio the issues set targets
for) and latency p50/p99 under an open-loop fixed rate. External benchmarks `bench/*_bench.py`
run as subprocesses; the last stdout line of each is a JSON row
{"name", "unit", "system", "baseline", "ratio", "target"}. Results go to
bench/results/latest.json and latest.md. How to read them: docs/benchmarks.md.

Database: DATABASE_URL's server if set, else the embedded PostgreSQL (.kefu/bench-pgdata); a
fresh database is created, migrated, and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import HttpPool, Latency, Throughput, closed_loop, open_loop  # noqa: E402

from kefu_common.db import to_libpq_url  # noqa: E402
from kefu_common.devstack import ALL_SERVICES, GRPC_SERVICES, Stack, free_port  # noqa: E402
from kefu_common.embedded import drop_database, ensure_database, start_embedded_postgres  # noqa: E402
from kefu_common.settings import PROJECT_ROOT  # noqa: E402

BENCH = PROJECT_ROOT / "bench"
RESULTS = BENCH / "results"
BENCH_PGDATA = PROJECT_ROOT / ".kefu" / "bench-pgdata"
EXTERNAL_TIMEOUT_SECONDS = 300
# Generated-data benchmarks too slow for every `make bench`: run only with --with-optional, each
# with its own timeout (bench/console_bench.py loads 1M tickets and 1M evaluations first).
OPTIONAL_EXTERNAL = {"console_bench.py": 3600.0}
HTTP_CONCURRENCY = 16
GRPC_CONCURRENCY = 16
TICKET_BODY = {
    "customer": {"id": "C-bench", "tier": "standard"},
    "channel": "phone",
    "severity": "normal",
    "category": "quality",
    "subject": "TV shows a black screen",
}

Op = Callable[[int], Awaitable[None]]
# The platform as the HTTP pairs (and bench/create_cost.py) run it: one gateway worker, JSON
# logs to files, no quota in the way (the bench's customer is one token).
STACK_ENV = {"KEFU_ENV": "dev", "KEFU_LOG_FORMAT": "json", "GATEWAY_WORKERS": "1",
             "GATEWAY_RATE_LIMIT_REQUESTS": "1000000"}


@dataclass
class Pair:
    name: str
    system_label: str
    baseline_label: str
    system: Op
    baseline: Op
    rate: float  # open-loop requests per second for the latency figures
    concurrency: int
    target_ratio: float | None  # throughput system/baseline must be at least this
    target_source: str
    rounds: list[dict[str, Any]] = field(default_factory=list)


# ------------------------------------------------------------------------------------------
# Measuring


async def measure(pair: Pair, rounds: int, seconds: float) -> None:
    sides = {"system": pair.system, "baseline": pair.baseline}
    for op in sides.values():  # warm-up: connections, caches, JIT-free but pools and plans
        await closed_loop(op, concurrency=pair.concurrency, seconds=min(1.0, seconds))
    for r in range(rounds):
        order = ["baseline", "system"] if r % 2 == 0 else ["system", "baseline"]
        result: dict[str, Any] = {"order": order}
        for side in order:
            tp = await closed_loop(sides[side], concurrency=pair.concurrency, seconds=seconds)
            lat = await open_loop(sides[side], rate=pair.rate, seconds=seconds)
            result[side] = {"throughput": tp, "latency": lat}
        pair.rounds.append(result)
        s, b = result["system"], result["baseline"]
        print(
            f"  {pair.name} round {r + 1}/{rounds}: system {s['throughput'].rps:,.0f}/s "
            f"p50 {s['latency'].p50_ms:.2f} ms | baseline {b['throughput'].rps:,.0f}/s "
            f"p50 {b['latency'].p50_ms:.2f} ms",
            flush=True,
        )


def summarize(pair: Pair) -> list[dict[str, Any]]:
    def med(side: str, pick: Callable[[Throughput, Latency], float]) -> float:
        return statistics.median(pick(r[side]["throughput"], r[side]["latency"]) for r in pair.rounds)

    def errors(side: str) -> int:
        return sum(r[side]["throughput"].errors + r[side]["latency"].errors for r in pair.rounds)

    sys_rps, base_rps = med("system", lambda t, _: t.rps), med("baseline", lambda t, _: t.rps)
    ratio = sys_rps / base_rps if base_rps else float("nan")
    rows = [
        {
            "name": f"{pair.name}: throughput",
            "unit": f"req/s (closed loop, {pair.concurrency} in flight)",
            "system": round(sys_rps, 1),
            "baseline": round(base_rps, 1),
            "ratio": round(ratio, 3),
            "target": f">= {pair.target_ratio}" if pair.target_ratio else None,
            "met": None if pair.target_ratio is None else ratio >= pair.target_ratio,
            "target_source": pair.target_source,
        }
    ]
    for pct in ("p50", "p99"):
        s = med("system", lambda _, lat, p=pct: getattr(lat, f"{p}_ms"))
        b = med("baseline", lambda _, lat, p=pct: getattr(lat, f"{p}_ms"))
        rows.append(
            {
                "name": f"{pair.name}: latency {pct}",
                "unit": f"ms (open loop, {pair.rate:g} req/s)",
                "system": round(s, 3),
                "baseline": round(b, 3),
                "ratio": round(s / b, 2) if b else None,
                "target": None,
                "met": None,
            }
        )
    for row in rows:
        row["system_label"] = pair.system_label
        row["baseline_label"] = pair.baseline_label
        row["errors"] = {"system": errors("system"), "baseline": errors("baseline")}
    return rows


# ------------------------------------------------------------------------------------------
# The systems and their baselines


@asynccontextmanager
async def http_pairs(database_url: str, workdir: Path) -> AsyncIterator[list[Pair]]:
    """The platform as real processes (one gateway worker), the bare ASGI app, asyncpg."""
    stack = Stack(
        database_url=database_url,
        ports={name: free_port() for name in ("gateway", *GRPC_SERVICES)},
        extra_env=STACK_ENV,
        log_dir=workdir / "logs",
    )
    hello_port = free_port()
    hello = subprocess.Popen(
        [sys.executable, str(BENCH / "hello_asgi.py"), str(hello_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    floor_grpc_port, floor_port = free_port(), free_port()
    floor = [
        subprocess.Popen([sys.executable, str(BENCH / "create_floor.py"), *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        for args in (("grpc", str(floor_grpc_port), to_libpq_url(database_url)),
                     ("http", str(floor_port), str(floor_grpc_port)))
    ]
    pool = await asyncpg.create_pool(to_libpq_url(database_url), min_size=4, max_size=HTTP_CONCURRENCY)
    gateway = HttpPool("127.0.0.1", 0)
    hello_pool = HttpPool("127.0.0.1", hello_port)
    floor_pool = HttpPool("127.0.0.1", floor_port)
    try:
        stack.start_all()
        gateway.port = stack.ports["gateway"]
        await wait_http(hello_pool)
        token = stack.token("agent", "bench-agent")
        auth = {"Authorization": f"Bearer {token}"}
        json_headers = {**auth, "Content-Type": "application/json"}
        body = json.dumps(TICKET_BODY).encode()
        ticket_id = await create_ticket(gateway, json_headers, body)
        for table in ("bench_insert", "bench_floor"):
            await pool.execute(
                f"CREATE TABLE IF NOT EXISTS public.{table} "
                "(id bigserial PRIMARY KEY, payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
            )
        await wait_http(floor_pool, method="POST", body=body)

        async def create(_: int) -> None:
            await expect(gateway.request("POST", "/v1/tickets", json_headers, body), 201)

        async def insert(_: int) -> None:
            await pool.execute("INSERT INTO public.bench_insert (payload) VALUES ($1::jsonb)", body.decode())

        async def create_floor(_: int) -> None:
            await expect(floor_pool.request("POST", "/", {"Content-Type": "application/json"}, body), 201)

        customer = {"Authorization": f"Bearer {stack.token('customer', TICKET_BODY['customer']['id'])}"}
        progress = f"/v1/customer/cases/{ticket_id}/progress"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as client:
            first = await client.get(progress, headers=customer)
            first.raise_for_status()
        polling = {**customer, "If-None-Match": first.headers["ETag"]}

        async def poll(_: int) -> None:  # the customer app polling an unchanged case
            await expect(gateway.request("GET", progress, polling), 304)

        async def hello_get(_: int) -> None:
            await expect(hello_pool.request("GET", "/", {}), 200)

        yield [
            Pair("create", "POST /v1/tickets via gateway -> ticketing -> escalation -> PostgreSQL",
                 "asyncpg single-row INSERT (pool)", create, insert, rate=20,
                 concurrency=HTTP_CONCURRENCY, target_ratio=0.5, target_source="issue #6"),
            Pair("create_floor", "the architecture floor (bench/create_floor.py): bare ASGI -> one bare "
                 "gRPC call -> one asyncpg INSERT; no framework, auth, validation, transaction or outbox",
                 "asyncpg single-row INSERT (pool)", create_floor, insert, rate=20,
                 concurrency=HTTP_CONCURRENCY, target_ratio=None,
                 target_source="none: the ceiling of the create ratio on this machine"),
            Pair("poll", "GET /v1/customer/cases/{id}/progress with If-None-Match (customer token; "
                 "304, each read counted as a progress view)", "bare ASGI hello under uvicorn (1 worker)",
                 poll, hello_get,
                 rate=100, concurrency=HTTP_CONCURRENCY, target_ratio=0.2, target_source="issue #6"),
        ]
    finally:
        await gateway.close()
        await hello_pool.close()
        await floor_pool.close()
        await pool.close()
        for proc in (hello, *floor):
            proc.terminate()
            proc.wait()
        stack.stop_all()


@asynccontextmanager
async def grpc_pair(database_url: str) -> AsyncIterator[list[Pair]]:
    """In-process ticketing (+ escalation for the SLA) vs a bare grpc.aio echo server."""
    from kefu.common.v1 import types_pb2
    from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
    from kefu_escalation.app import service as escalation
    from kefu_escalation.settings import EscalationSettings
    from kefu_ticketing.app import service as ticketing
    from kefu_ticketing.settings import TicketingSettings

    esc = await escalation.create_server(
        EscalationSettings(grpc_port=0, consume_ticket_events=False, run_sla_clocks=False), database_url
    )
    await esc.start()
    tkt = await ticketing.create_server(
        TicketingSettings(grpc_port=0, escalation_addr=f"127.0.0.1:{esc.port}"), database_url
    )
    await tkt.start()

    async def echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    echo_server = grpc.aio.server()
    echo_server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(echo)})]
    )
    echo_port = echo_server.add_insecure_port("127.0.0.1:0")
    await echo_server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{tkt.port}")
    echo_channel = grpc.aio.insecure_channel(f"127.0.0.1:{echo_port}")
    try:
        stub = ticketing_pb2_grpc.TicketingServiceStub(channel)
        ticket = await stub.CreateTicket(
            ticketing_pb2.CreateTicketRequest(
                request_id=uuid.uuid4().hex,
                customer=ticketing_pb2.Customer(id="C-bench", tier=types_pb2.CUSTOMER_TIER_STANDARD),
                channel=types_pb2.CHANNEL_PHONE, severity=types_pb2.SEVERITY_NORMAL,
                category="quality", subject="gRPC bench",
            )
        )
        request = ticketing_pb2.GetTicketRequest(id=ticket.id)
        # The echo carries the same bytes GetTicket answers with: same size on the wire.
        payload = ticket.SerializeToString()
        call_echo = echo_channel.unary_unary("/bench.Echo/Echo")

        async def get_ticket(_: int) -> None:
            await stub.GetTicket(request)

        async def echo_call(_: int) -> None:
            await call_echo(payload)

        yield [
            Pair("grpc", "ticketing GetTicket (in-process server, PostgreSQL read)",
                 f"bare grpc.aio echo of the same {len(payload)} bytes", get_ticket, echo_call,
                 rate=100, concurrency=GRPC_CONCURRENCY, target_ratio=None,
                 target_source="issue #7 (no target set)"),
        ]
    finally:
        await channel.close()
        await echo_channel.close()
        await echo_server.stop(0)
        await tkt.stop()
        await esc.stop()


async def expect(call: Awaitable[int], status: int) -> None:
    got = await call
    if got != status:
        raise RuntimeError(f"HTTP {got}, expected {status}")


async def create_ticket(gateway: HttpPool, headers: dict[str, str], body: bytes) -> str:
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}") as client:
        response = await client.post("/v1/tickets", content=body, headers=headers)
        response.raise_for_status()
        return str(response.json()["id"])


async def wait_http(pool: HttpPool, timeout: float = 30.0, *, method: str = "GET", body: bytes = b"") -> None:
    """Until the server answers with a success (the floor's gRPC half may start later)."""
    deadline = time.monotonic() + timeout
    while True:
        failure: OSError | None = None
        try:
            if await pool.request(method, "/", {}, body) < 300:
                return
        except OSError as exc:
            failure = exc
        if time.monotonic() > deadline:
            raise RuntimeError(f"{method} / on port {pool.port} still fails after {timeout:g}s") from failure
        await asyncio.sleep(0.1)


# ------------------------------------------------------------------------------------------
# External benchmarks, machine, report


def run_external(
    database_url: str, directory: Path = BENCH, timeout: float = EXTERNAL_TIMEOUT_SECONDS,
    *, with_optional: bool = False,
) -> list[dict[str, Any]]:
    """Run each `*_bench.py` in `directory`; one row per script (its last stdout line, or an error).
    Scripts in OPTIONAL_EXTERNAL run only `with_optional`, under their own timeout."""
    rows: list[dict[str, Any]] = []
    for script in sorted(directory.glob("*_bench.py")):
        if script.name in OPTIONAL_EXTERNAL and not with_optional:
            continue
        print(f"  external: {script.name} ...", flush=True)
        env = {**os.environ, "DATABASE_URL": database_url}
        try:
            out = subprocess.run(
                [sys.executable, str(script)], env=env, capture_output=True, text=True,
                timeout=OPTIONAL_EXTERNAL.get(script.name, timeout), cwd=PROJECT_ROOT,
            )
        except subprocess.TimeoutExpired:
            rows.append({"name": script.stem, "error": f"timed out after {timeout:g}s"})
            continue
        lines = [line for line in out.stdout.strip().splitlines() if line.strip()]
        try:
            row = json.loads(lines[-1])
            missing = {"name", "unit", "system", "baseline", "ratio", "target"} - set(row)
            if out.returncode != 0 or missing:
                raise ValueError(f"exit {out.returncode}, missing {sorted(missing)}")
        except (IndexError, ValueError) as exc:
            tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
            rows.append({"name": script.stem, "error": f"{exc}; {' | '.join(tail)}"})
            continue
        row["source"] = f"bench/{script.name}"
        rows.append(row)
    if not rows:
        print("  external: no bench/*_bench.py scripts found (skipped)", flush=True)
    return rows


async def machine(database_url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        pg = await conn.fetchval("SELECT version()")
    finally:
        await conn.close()
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu,
        "load_average_at_start": os.getloadavg(),
        "postgresql": pg,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "grpcio": grpc.__version__,
    }


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# Kefu benchmarks — {report['finished_at']}",
        "",
        f"Machine: {m['cores']} cores, {m['cpu_model']}; load average (1/5/15 min) at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}, at end "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_end'])}; {m['postgresql'].split(',')[0]}; "
        f"Python {m['python']}. Rounds: {report['config']['rounds']} × "
        f"{report['config']['seconds']} s per side and load shape, alternating; medians shown.",
        "",
        "| Benchmark | Unit | System | Baseline | Ratio | Target | Met |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in report["results"] + report["external"]:
        if "error" in row:
            lines.append(f"| {row['name']} | — | — | — | — | — | error: {row['error']} |")
            continue
        lines.append(
            f"| {row['name']} | {row['unit']} | {fmt(row['system'])} | {fmt(row['baseline'])} | "
            f"{fmt(row['ratio'])} | {fmt(row.get('target'))} | {fmt(row.get('met'))} |"
        )
    external = [row for row in report["external"] if "source" in row]
    if external:
        lines += ["", "External rows: " + ", ".join(f"`{row['source']}`" for row in external)
                  + " (their own system and baseline; see each script's docstring)."]
    if report["results"]:
        lines += ["", "System and baseline of each pair:", ""]
    seen = set()
    for row in report["results"]:
        key = row["name"].split(":")[0]
        if key not in seen:
            seen.add(key)
            lines.append(f"- **{key}**: {row['system_label']} vs {row['baseline_label']}")
    return "\n".join(lines) + "\n"


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    configured = os.environ.get("DATABASE_URL")
    server_url = configured or start_embedded_postgres(BENCH_PGDATA)
    name = f"kefu_bench_{os.getpid()}"
    database_url = await ensure_database(server_url, name)
    started = datetime.now(UTC)
    results: list[dict[str, Any]] = []
    external: list[dict[str, Any]] = []
    try:
        print(f"bench: database {'DATABASE_URL' if configured else 'embedded PostgreSQL'} / {name}", flush=True)
        with tempfile.TemporaryDirectory(prefix="kefu-bench-") as tmp:
            Stack(database_url, {name: 0 for name in ALL_SERVICES}, log_dir=Path(tmp) / "logs").migrate()
            info = await machine(database_url)
            if "grpc" in args.only:
                async with grpc_pair(database_url) as pairs:
                    for pair in pairs:
                        await measure(pair, args.rounds, args.seconds)
                        results += summarize(pair)
            if {"create", "create_floor", "poll"} & set(args.only):
                async with http_pairs(database_url, Path(tmp)) as pairs:
                    for pair in pairs:
                        if pair.name in args.only:
                            await measure(pair, args.rounds, args.seconds)
                            results += summarize(pair)
        if not args.no_external:
            external = await asyncio.to_thread(run_external, database_url, with_optional=args.with_optional)
    finally:
        await drop_database(server_url, name)
    info["load_average_at_end"] = os.getloadavg()
    return {
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "config": {"rounds": args.rounds, "seconds": args.seconds, "http_concurrency": HTTP_CONCURRENCY,
                   "grpc_concurrency": GRPC_CONCURRENCY},
        "results": results,
        "external": external,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.5, help="per side, per load shape, per round")
    parser.add_argument("--only", default="grpc,create,create_floor,poll", type=lambda s: s.split(","))
    parser.add_argument("--no-external", action="store_true")
    parser.add_argument("--with-optional", action="store_true",
                        help="also run the slow generated-data benchmarks (bench/console_bench.py)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from kefu_common.logging import configure_logging

    configure_logging("bench", level="WARNING", fmt="console")
    report = asyncio.run(main_async(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    table = markdown(report)
    (args.out / "latest.md").write_text(table)
    print()
    print(table)


if __name__ == "__main__":
    main()
