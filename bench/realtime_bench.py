"""Real-time QA throughput and alert latency (issue #13): turns per second through the
gateway's WebSocket next to the same turns over scoring's gRPC stream (live, stored turns) in
the same run, and the alert latency p99 at 200 concurrent calls over the WebSocket.

Everything runs in this process on one event loop (ticketing, escalation and scoring gRPC
servers; the gateway under uvicorn; the load), so both sides share the same CPU. Run alone:

    .venv/bin/python bench/realtime_bench.py [--calls 16] [--turns 20] [--concurrent 200]

The last stdout line is the bench/run.py row (system: WebSocket turns/s; baseline: gRPC).
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

TURNS = [
    ("agent", "您好，很高兴为您服务，请问有什么可以帮您"),
    ("customer", "我上周买的电视一直黑屏，打了三次电话都没人处理"),
    ("agent", "非常抱歉给您带来不便，我马上为您查询订单"),
    ("customer", "再不处理我就打12315投诉你们"),
    ("agent", "理解您的心情，我已经为您申请加急处理"),
]


async def database(url_hint: str | None) -> tuple[str, str, str]:
    from kefu_common.embedded import ensure_database, start_embedded_postgres

    server = url_hint or start_embedded_postgres(ROOT / ".kefu" / "bench-pgdata")
    name = f"kefu_bench_realtime_{uuid.uuid4().hex[:6]}"
    return server, name, await ensure_database(server, name)


def migrate(url: str) -> None:
    from kefu_escalation.app import service as escalation
    from kefu_gateway.__main__ import migrate as migrate_gateway
    from kefu_scoring.app import service as scoring
    from kefu_ticketing.app import service as ticketing

    for svc in (escalation, ticketing, scoring):
        svc.migrate(url)
    migrate_gateway(url)


def turn(i: int) -> tuple[str, str]:
    return TURNS[i % len(TURNS)]


async def grpc_calls(stub: Any, ticket_id: str, calls: int, turns: int) -> float:
    """`calls` concurrent live streams of `turns` turns each, one turn in flight per stream."""
    from kefu.scoring.v1 import scoring_pb2

    async def one() -> None:
        call = stub.StreamConversation()
        await call.write(scoring_pb2.StreamRequest(start=scoring_pb2.StreamStart(
            conversation_id=f"bench-g-{uuid.uuid4().hex}", ticket_id=ticket_id, agent_id="bench", live=True)))
        await call.read()
        for i in range(turns):
            role, text = turn(i)
            await call.write(scoring_pb2.StreamRequest(seq=i + 1, turn=scoring_pb2.Turn(
                role=scoring_pb2.ROLE_AGENT if role == "agent" else scoring_pb2.ROLE_CUSTOMER, text=text)))
            while (await call.read()).WhichOneof("event") != "turn_ack":
                pass
        await call.write(scoring_pb2.StreamRequest(end=scoring_pb2.StreamEnd()))
        await call.read()
        await call.done_writing()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return calls * turns / (time.perf_counter() - started)


async def ws_call(url: str, token: str, turns: int, *, pace: float = 0.0,
                  latencies: list[float] | None = None) -> None:
    import websockets

    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                                  max_queue=None) as ws:
        await ws.recv()  # ready
        start = time.perf_counter()
        for i in range(turns):
            scheduled = start + i * pace
            if pace:
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            role, text = turn(i)
            await ws.send(json.dumps({"type": "turn", "seq": i + 1, "role": role, "text": text}))
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "alert" and latencies is not None:
                    latencies.append((time.perf_counter() - (scheduled if pace else 0.0)) * 1000.0)
                if message["type"] == "ack":
                    break
        await ws.send('{"type": "end"}')
        await ws.recv()


async def ws_calls(base: str, token: str, ticket_id: str, calls: int, turns: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(ws_call(f"{base}/bench-w-{uuid.uuid4().hex}?ticket_id={ticket_id}", token, turns)
                           for _ in range(calls)))
    return calls * turns / (time.perf_counter() - started)


async def alert_latency(base: str, token: str, ticket_id: str, concurrent: int, turns: int, pace: float) -> dict[str, Any]:
    latencies: list[float] = []
    urls = [f"{base}/bench-l-{uuid.uuid4().hex}?ticket_id={ticket_id}" for _ in range(concurrent)]

    async def staggered(i: int, u: str) -> None:
        await asyncio.sleep(pace * i / concurrent)  # calls spread over one turn interval
        await ws_call(u, token, turns, pace=pace, latencies=latencies)

    await asyncio.gather(*(staggered(i, u) for i, u in enumerate(urls)))
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [float("nan")] * 99
    return {"p50_ms": round(q[49], 1), "p99_ms": round(q[98], 1), "alerts": len(latencies)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=16, help="concurrent streams for the throughput pair")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=200, help="calls for the alert latency")
    parser.add_argument("--pace", type=float, default=10.0, help="seconds between a call's turns (latency run)")
    args = parser.parse_args()

    import grpc
    import httpx
    import uvicorn

    from kefu.scoring.v1 import scoring_pb2_grpc
    from kefu_common.embedded import drop_database
    from kefu_escalation.app import service as escalation_service
    from kefu_escalation.settings import EscalationSettings
    from kefu_gateway.app import create_app
    from kefu_gateway.settings import GatewaySettings
    from kefu_scoring.app import service as scoring_service
    from kefu_scoring.settings import ScoringSettings
    from kefu_ticketing.app import service as ticketing_service
    from kefu_ticketing.settings import TicketingSettings
    from support import staff_headers, ticket_body

    server_url, name, url = await database(os.environ.get("DATABASE_URL"))
    await asyncio.to_thread(migrate, url)
    servers = []

    async def start(service: Any, settings: Any) -> str:
        server = await service.create_server(settings, url)
        await server.start()
        servers.append(server)
        return f"127.0.0.1:{server.port}"

    load_before = os.getloadavg()
    try:
        escalation = await start(escalation_service, EscalationSettings(
            grpc_port=0, consume_ticket_events=False, run_sla_clocks=False))
        ticketing = await start(ticketing_service, TicketingSettings(grpc_port=0, escalation_addr=escalation))
        scoring = await start(scoring_service, ScoringSettings(grpc_port=0, relay_signals=False))
        settings = GatewaySettings(database_url=url, webhooks_enabled=False, ticketing_addr=ticketing,
                                   escalation_addr=escalation, scoring_addr=scoring, http_port=0)
        config = uvicorn.Config(create_app(settings, configure_logs=False), host="127.0.0.1", port=0,
                                lifespan="on", log_config=None, access_log=False, loop="asyncio")
        gateway = uvicorn.Server(config)
        task = asyncio.create_task(gateway.serve())
        while not gateway.started:
            await asyncio.sleep(0.02)
        port = gateway.servers[0].sockets[0].getsockname()[1]
        headers = staff_headers(settings, role="agent", subject="bench-agent")
        token = headers["Authorization"].removeprefix("Bearer ")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
            created = await http.post("/v1/tickets", json=ticket_body(), headers={"Idempotency-Key": uuid.uuid4().hex})
            ticket_id = created.json()["id"]
        base = f"ws://127.0.0.1:{port}/v1/realtime/conversations"
        rounds: list[tuple[float, float]] = []
        async with grpc.aio.insecure_channel(scoring) as channel:
            stub = scoring_pb2_grpc.ScoringServiceStub(channel)
            await grpc_calls(stub, ticket_id, 2, 5)  # warm-up
            await ws_calls(base, token, ticket_id, 2, 5)
            for r in range(args.rounds):  # alternate which side goes first
                if r % 2:
                    w = await ws_calls(base, token, ticket_id, args.calls, args.turns)
                    g = await grpc_calls(stub, ticket_id, args.calls, args.turns)
                else:
                    g = await grpc_calls(stub, ticket_id, args.calls, args.turns)
                    w = await ws_calls(base, token, ticket_id, args.calls, args.turns)
                rounds.append((w, g))
                print(f"  round {r + 1}: websocket {w:.0f} turns/s, grpc {g:.0f} turns/s", file=sys.stderr, flush=True)
        latency = await alert_latency(base, token, ticket_id, args.concurrent, len(TURNS), args.pace)
        gateway.should_exit = True
        await task
    finally:
        for server in reversed(servers):
            await server.stop()
        await drop_database(server_url, name)
    ws_rate = statistics.median(w for w, _ in rounds)
    grpc_rate = statistics.median(g for _, g in rounds)
    print(json.dumps({
        "name": "realtime turns (WebSocket vs gRPC stream)",
        "unit": "turns/s",
        "system": round(ws_rate, 1),
        "baseline": round(grpc_rate, 1),
        "ratio": round(ws_rate / grpc_rate, 3),
        "target": "ratio >= 0.5",
        "met": ws_rate / grpc_rate >= 0.5,
        "detail": {
            "calls": args.calls, "turns_per_call": args.turns, "rounds": [[round(w), round(g)] for w, g in rounds],
            "alert_latency_at_concurrent_calls": {"calls": args.concurrent, "pace_s": args.pace, **latency},
            "loadavg_start": [round(x, 2) for x in load_before], "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
    }, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
