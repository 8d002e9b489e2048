"""Gateway benchmark (not a test): customer progress polling and ticket creation, each next to
its bare baseline measured in the same run on the same machine.

    .venv/bin/python bench/gateway_bench.py [--seconds 5] [--connections 16]

1. bare ASGI "hello" under uvicorn (uvloop + httptools, one worker)   requests/s
   (and GET /healthz of the gateway: the ceiling of any of its routes)
2. GET /v1/customer/cases/{id}/progress with a current If-None-Match  304s/s  (target >= 20 % of 1)
3. bare asyncpg single-row INSERT loop (one row per statement)          rows/s
4. POST /v1/tickets end to end (gateway -> ticketing -> escalation)     201s/s  (target >= 50 % of 3)

The platform runs as real processes (kefu_common.devstack) on the embedded PostgreSQL (or
DATABASE_URL's server), the gateway with one worker. The load generator is a minimal HTTP/1.1
keep-alive client on raw asyncio streams, so the client costs as little as possible; it shares
the machine with the servers, like every single-host benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from kefu_common.db import to_libpq_url
from kefu_common.devstack import GRPC_SERVICES, Stack
from kefu_common.embedded import drop_database, ensure_database, resolve_database_url
from kefu_common.settings import PROJECT_ROOT

HELLO_APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _one_connection(host: str, port: int, make_request: callable, expect: int, deadline: float,
                          counts: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            writer.write(make_request())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            counts["ok" if status == expect else f"status_{status}"] = counts.get(
                "ok" if status == expect else f"status_{status}", 0) + 1
    finally:
        writer.close()


async def load(url: str, make_request: callable, *, expect: int, seconds: float, connections: int) -> dict:
    host, port = url.removeprefix("http://").split(":")
    counts: dict[str, int] = {}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(
        _one_connection(host, int(port), make_request, expect, deadline, counts) for _ in range(connections)
    ))
    elapsed = time.perf_counter() - started
    return {"per_second": round(counts.get("ok", 0) / elapsed, 1), **counts}


def request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bench"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def bare_hello(seconds: float, connections: int, tmp: Path) -> dict:
    (tmp / "hello_asgi.py").write_text(HELLO_APP)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "hello_asgi:app", "--port", str(port), "--loop", "uvloop",
         "--http", "httptools", "--workers", "1", "--no-access-log", "--log-level", "warning"],
        cwd=tmp,
    )
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=0.2)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        return asyncio.run(load(f"http://127.0.0.1:{port}", lambda: request("GET", "/", {}),
                                expect=200, seconds=seconds, connections=connections))
    finally:
        proc.terminate()
        proc.wait()


async def bare_inserts(url: str, seconds: float, connections: int) -> dict:
    pool = await asyncpg.create_pool(to_libpq_url(url), min_size=connections, max_size=connections)
    await pool.execute("CREATE TABLE IF NOT EXISTS public.bench_row (id uuid PRIMARY KEY, body text)")
    count = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal count
        async with pool.acquire() as conn:
            while time.perf_counter() < deadline:
                await conn.execute("INSERT INTO public.bench_row VALUES ($1, $2)", uuid.uuid4(), "x" * 200)
                count += 1

    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    await pool.execute("DROP TABLE public.bench_row")
    await pool.close()
    return {"per_second": round(count / elapsed, 1), "ok": count}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    tmp = PROJECT_ROOT / ".kefu" / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    server = resolve_database_url(os.environ.get("DATABASE_URL"), PROJECT_ROOT / ".kefu" / "pgdata")
    name = f"kefu_bench_{uuid.uuid4().hex[:8]}"
    url = asyncio.run(ensure_database(server, name))
    stack = Stack(
        database_url=url,
        ports={n: free_port() for n in ("gateway", *GRPC_SERVICES)},
        extra_env={"KEFU_LOG_LEVEL": "WARNING", "GATEWAY_RATE_LIMIT_REQUESTS": "1000000",
                   "GATEWAY_WORKERS": "1"},
        log_dir=tmp / "logs",
    )
    results: dict[str, dict] = {}
    try:
        stack.migrate()
        stack.start_all()
        agent = stack.token("agent", "bench-agent")
        customer_id = "C-bench"
        customer = stack.token("customer", customer_id)
        body = {"customer": {"id": customer_id, "name": "Bench"}, "channel": "app",
                "severity": "normal", "category": "logistics", "subject": "bench"}
        with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
            ticket = client.post("/v1/tickets", json=body, headers={"Authorization": f"Bearer {agent}"}).json()
            path = f"/v1/customer/cases/{ticket['id']}/progress"
            tag = client.get(path, headers={"Authorization": f"Bearer {customer}"}).headers["etag"]

        results["bare_asgi_hello"] = bare_hello(args.seconds, args.connections, tmp)
        # The ceiling of any route of this gateway: FastAPI, its middleware, no auth, no RPC.
        results["gateway_healthz"] = asyncio.run(load(
            stack.gateway_url, lambda: request("GET", "/healthz", {}), expect=200, seconds=args.seconds,
            connections=args.connections))
        poll = request("GET", path, {"Authorization": f"Bearer {customer}", "If-None-Match": tag})
        results["progress_poll_304"] = asyncio.run(load(
            stack.gateway_url, lambda: poll, expect=304, seconds=args.seconds, connections=args.connections))
        results["bare_asyncpg_insert"] = asyncio.run(bare_inserts(url, args.seconds, args.connections))
        create_body = json.dumps(body).encode()
        create_headers = {"Authorization": f"Bearer {agent}", "Content-Type": "application/json"}
        results["ticket_create_201"] = asyncio.run(load(
            stack.gateway_url, lambda: request("POST", "/v1/tickets", create_headers, create_body),
            expect=201, seconds=args.seconds, connections=args.connections))
    finally:
        stack.stop_all()
        asyncio.run(drop_database(server, name))
    poll_ratio = results["progress_poll_304"]["per_second"] / results["bare_asgi_hello"]["per_second"]
    create_ratio = results["ticket_create_201"]["per_second"] / results["bare_asyncpg_insert"]["per_second"]
    results["ratios"] = {
        "progress_poll_vs_hello": f"{poll_ratio:.1%} (target >= 20%)",
        "ticket_create_vs_insert": f"{create_ratio:.1%} (target >= 50%)",
    }
    print(json.dumps({"seconds": args.seconds, "connections": args.connections, "cpus": os.cpu_count(),
                      **results}, indent=2))
    # The last line is the row `make bench` (bench/run.py) collects from every *_bench.py.
    print(json.dumps({
        "name": "gateway_progress_poll_304", "unit": "req/s",
        "system": round(results["progress_poll_304"]["per_second"], 1),
        "baseline": round(results["bare_asgi_hello"]["per_second"], 1),
        "ratio": round(poll_ratio, 3), "target": ">= 0.2 of a bare ASGI hello (issue #6)", "met": poll_ratio >= 0.2,
    }))


if __name__ == "__main__":
    main()
