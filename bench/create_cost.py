"""Where the CPU of one ticket creation goes: CPU milliseconds per `POST /v1/tickets`, per process.

    .venv/bin/python bench/create_cost.py [--seconds 6] [--concurrency 16] [--database-url URL]

Starts the platform as `make run` does (devstack.Stack: four service processes, JSON logs to
files, escalation's event consumer and clock worker running), creates tickets through the
gateway in a closed loop, and divides each process's CPU time (user + system, from
/proc/<pid>/stat; PostgreSQL summed over all its backends) by the tickets created. Linux only.

Not part of `make bench` (it has no baseline); it is the profile to read before changing the
create path, and the per-process budget docs/benchmarks.md quotes. CPU per request is also far
less sensitive to other load on the machine than requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import HttpPool  # noqa: E402
from run import STACK_ENV  # noqa: E402

from kefu_common.devstack import GRPC_SERVICES, Stack, free_port  # noqa: E402
from kefu_common.embedded import drop_database, ensure_database, start_embedded_postgres  # noqa: E402
from kefu_common.settings import PROJECT_ROOT  # noqa: E402

TICKET = {
    "customer": {"id": "C-cost", "name": "Li Lei", "tier": "standard", "phone": "13800138000"},
    "channel": "phone", "severity": "normal", "category": "quality",
    "subject": "TV shows a black screen", "description": "It went black after the update. " * 6,
}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid: int) -> float:
    """User + system CPU of one process so far, in milliseconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICKS


def postgres_cpu_ms() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in {"postgres", "postmaster"}:
                    total += cpu_ms(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    return total


async def main(args: argparse.Namespace) -> None:
    server = args.database_url or os.environ.get("DATABASE_URL") or start_embedded_postgres(
        PROJECT_ROOT / ".kefu" / "bench-pgdata")
    name = f"kefu_cost_{uuid.uuid4().hex[:6]}"
    database_url = await ensure_database(server, name)
    stack = Stack(
        database_url, {n: free_port() for n in ("gateway", *GRPC_SERVICES)},
        extra_env=STACK_ENV,
        log_dir=Path(tempfile.mkdtemp(prefix="kefu-cost-")) / "logs",
    )
    stack.migrate()
    stack.start_all()
    gateway = HttpPool("127.0.0.1", stack.ports["gateway"])
    try:
        headers = {"Authorization": f"Bearer {stack.token('agent', 'cost-agent')}",
                   "Content-Type": "application/json"}
        body = json.dumps(TICKET).encode()

        async def create() -> None:
            status = await gateway.request("POST", "/v1/tickets", headers, body)
            if status != 201:
                raise RuntimeError(f"POST /v1/tickets answered {status}")

        for _ in range(100):  # warm-up: pools, prepared statements, caches
            await create()
        procs = {n: p.pid for n, p in stack.procs.items()}
        before = {n: cpu_ms(pid) for n, pid in procs.items()}
        before_pg, before_client = postgres_cpu_ms(), time.process_time()
        created = 0
        stop = time.perf_counter() + args.seconds

        async def worker() -> None:
            nonlocal created
            while time.perf_counter() < stop:
                await create()
                created += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
        cost = {n: (cpu_ms(pid) - before[n]) / created for n, pid in procs.items()}
        cost["postgresql"] = (postgres_cpu_ms() - before_pg) / created
        cost["load client"] = (time.process_time() - before_client) * 1000 / created
        print(f"{created} tickets in {elapsed:.1f} s = {created / elapsed:.0f}/s "
              f"({args.concurrency} in flight); load average {os.getloadavg()[0]:.2f}")
        for process, ms in sorted(cost.items(), key=lambda kv: -kv[1]):
            print(f"  {process:<12} {ms:6.2f} ms CPU per ticket")
        print(f"  {'total':<12} {sum(cost.values()):6.2f} ms CPU per ticket")
        print(json.dumps({"tickets_per_s": round(created / elapsed, 1),
                          "cpu_ms_per_ticket": {k: round(v, 2) for k, v in cost.items()}}))
    finally:
        await gateway.close()
        stack.stop_all()
        await drop_database(server, name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default=None)
    asyncio.run(main(parser.parse_args()))
