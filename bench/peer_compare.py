"""`make bench-peer`: Kefu's ticket creation next to a real peer's, in the same run (issue #15).

    python bench/peer_compare.py [--rounds 3] [--seconds 5] [--concurrency 16]

The peer is django-helpdesk (PyPI, pinned in bench/peer/requirements.txt): Django 5.2 + Django
REST Framework on PostgreSQL, served by gunicorn with 2 sync workers, `POST
/helpdesk/api/tickets/` with basic authentication as a staff user — the setup the issue
measured (about 45 tickets/s). `make bench-peer` installs it into its own virtualenv
(.kefu/peer-venv); it never enters Kefu's environment and this script only starts it as a
process.

Kefu runs as `make run` runs it (`devstack.Stack`: four processes, one gateway worker, the
escalation consumer and clock worker on), `POST /v1/tickets` with an agent's token.

Both write to fresh databases on the same PostgreSQL server (DATABASE_URL's, or the embedded
one), both are driven by the same closed-loop client (bench/load.py: `concurrency` requests in
flight, keep-alive HTTP/1.1), rounds alternate which side goes first, and the figure is the
median over rounds. The last stdout line is the JSON row of `bench/run.py`'s external scripts;
target: Kefu ≥ 5 × the peer.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import HttpPool, Op, closed_loop  # noqa: E402
from run import STACK_ENV, TICKET_BODY, expect  # noqa: E402

from kefu_common.db import to_libpq_url  # noqa: E402
from kefu_common.devstack import GRPC_SERVICES, Stack, free_port  # noqa: E402
from kefu_common.embedded import drop_database, ensure_database, start_embedded_postgres  # noqa: E402
from kefu_common.settings import PROJECT_ROOT  # noqa: E402

PEER_DIR = PROJECT_ROOT / "bench" / "peer"
PEER_VENV = PROJECT_ROOT / ".kefu" / "peer-venv"
PEER_PYTHON = PEER_VENV / "bin" / "python"
PEER_WORKERS = 2
TARGET = 5.0
USER, PASSWORD = "bench", "bench-password"
PEER_BODY = {
    "queue": 1,
    "title": TICKET_BODY["subject"],
    "description": "The customer reports it since yesterday evening.",
    "submitter_email": "customer@example.com",
    "priority": 3,
}


def peer_env(database_url: str, name: str) -> dict[str, str]:
    parts = urlsplit(to_libpq_url(database_url))
    return {
        **os.environ,
        "PYTHONPATH": str(PEER_DIR),
        "DJANGO_SETTINGS_MODULE": "helpdesk_site.settings",
        "PEER_DB_NAME": name,
        "PEER_DB_HOST": parts.hostname or "127.0.0.1",
        "PEER_DB_PORT": str(parts.port or 5432),
        "PEER_DB_USER": parts.username or "postgres",
        "PEER_DB_PASSWORD": parts.password or "",
    }


def prepare_peer(env: dict[str, str]) -> None:
    """Migrate django-helpdesk's schema, create the API user and one queue (id 1)."""
    manage = [str(PEER_PYTHON), str(PEER_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=PEER_DIR)
    script = (
        "from django.contrib.auth import get_user_model\n"
        "from helpdesk.models import Queue\n"
        f"get_user_model().objects.create_superuser({USER!r}, 'bench@example.com', {PASSWORD!r})\n"
        "assert Queue.objects.create(title='Complaints', slug='complaints').id == 1\n"
    )
    subprocess.run([*manage, "shell", "-c", script], env=env, check=True, cwd=PEER_DIR,
                   stdout=subprocess.DEVNULL)


async def rounds_of(sides: dict[str, tuple[HttpPool, Op]], rounds: int, seconds: float,
                    concurrency: int) -> dict[str, list[float]]:
    """Each side's idle connections are dropped before its turn: the servers close keep-alive
    connections left idle while the other side ran (uvicorn after 5 s), and a request on a
    closed one would count as a failure of the server."""
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for _pool, op in sides.values():  # warm-up: connections, caches, plans
        await closed_loop(op, concurrency=concurrency, seconds=min(2.0, seconds))
    for r in range(rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for name in order:
            pool, op = sides[name]
            await pool.close()
            tp = await closed_loop(op, concurrency=concurrency, seconds=seconds)
            if tp.errors:
                raise RuntimeError(f"{name}: {tp.errors} failed requests in round {r + 1}")
            rates[name].append(tp.rps)
        print(f"  round {r + 1}/{rounds}: " + " | ".join(f"{n} {rates[n][-1]:,.1f}/s" for n in sides),
              flush=True)
    return rates


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    if not PEER_PYTHON.exists():
        raise SystemExit("the peer is not installed: run `make bench-peer` (it installs .kefu/peer-venv)")
    server_url = os.environ.get("DATABASE_URL") or start_embedded_postgres(PROJECT_ROOT / ".kefu" / "bench-pgdata")
    suffix = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    kefu_db, peer_db = f"kefu_bench_{suffix}", f"peer_helpdesk_{suffix}"
    kefu_url = await ensure_database(server_url, kefu_db)
    await ensure_database(server_url, peer_db)
    workdir = Path(tempfile.mkdtemp(prefix="kefu-peer-"))
    stack = Stack(database_url=kefu_url, ports={n: free_port() for n in ("gateway", *GRPC_SERVICES)},
                  extra_env=STACK_ENV, log_dir=workdir / "logs")
    env = peer_env(server_url, peer_db)
    peer_port = free_port()
    gunicorn = None
    kefu = HttpPool("127.0.0.1", 0)
    peer = HttpPool("127.0.0.1", peer_port)
    try:
        prepare_peer(env)
        with open(workdir / "gunicorn.log", "wb") as log:
            gunicorn = subprocess.Popen(
                [str(PEER_VENV / "bin" / "gunicorn"), "-w", str(PEER_WORKERS), "-b", f"127.0.0.1:{peer_port}",
                 "helpdesk_site.wsgi"], env=env, cwd=PEER_DIR, stdout=log, stderr=subprocess.STDOUT,
            )
        stack.migrate()
        stack.start_all()
        kefu.port = stack.ports["gateway"]
        kefu_headers = {"Authorization": f"Bearer {stack.token('agent', 'bench-agent')}",
                        "Content-Type": "application/json"}
        basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        peer_headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/json"}
        kefu_body, peer_body = json.dumps(TICKET_BODY).encode(), json.dumps(PEER_BODY).encode()
        deadline = time.monotonic() + 30
        while True:  # gunicorn answers once its workers have imported Django
            try:
                await expect(peer.request("POST", "/helpdesk/api/tickets/", peer_headers, peer_body), 201)
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

        async def create_kefu(_: int) -> None:
            await expect(kefu.request("POST", "/v1/tickets", kefu_headers, kefu_body), 201)

        async def create_peer(_: int) -> None:
            await expect(peer.request("POST", "/helpdesk/api/tickets/", peer_headers, peer_body), 201)

        rates = await rounds_of({"kefu": (kefu, create_kefu), "django-helpdesk": (peer, create_peer)},
                                args.rounds, args.seconds, args.concurrency)
    finally:
        await kefu.close()
        await peer.close()
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait()
        stack.stop_all()
        await drop_database(server_url, kefu_db)
        await drop_database(server_url, peer_db)
    system = statistics.median(rates["kefu"])
    baseline = statistics.median(rates["django-helpdesk"])
    return {
        "name": "peer: ticket creation, Kefu vs django-helpdesk 2.6.1",
        "unit": f"tickets/s (closed loop, {args.concurrency} in flight)",
        "system": round(system, 1),
        "baseline": round(baseline, 1),
        "ratio": round(system / baseline, 2),
        "target": f">= {TARGET}",
        "met": system / baseline >= TARGET,
        "system_label": "POST /v1/tickets, make run's stack (1 gateway worker)",
        "baseline_label": f"django-helpdesk POST /helpdesk/api/tickets/ (DRF, gunicorn {PEER_WORKERS} sync workers)",
        "rounds": rates,
        "load_average_at_end": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    row = asyncio.run(main_async(args))
    print(f"Kefu {row['system']:,.1f}/s vs django-helpdesk {row['baseline']:,.1f}/s: "
          f"ratio {row['ratio']} (target {row['target']})", flush=True)
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
