"""The architecture floor of ticket creation, for `make bench` (issue #6).

    python bench/create_floor.py grpc PORT DATABASE_URL    # bare grpc.aio: one asyncpg INSERT per call
    python bench/create_floor.py http PORT GRPC_PORT       # bare ASGI: POST body -> that gRPC call

The least any implementation of Kefu's shape can do to create a ticket: an HTTP request
parsed by uvicorn (one worker, uvloop, httptools — as the gateway is served), forwarded over
one loopback gRPC call to a second process that runs one autocommit single-row INSERT with an
asyncpg pool, and answered with 201. No framework, no authentication, no validation, no
transaction with several rows, no outbox, no second service. `bench/run.py` measures it next
to the same asyncpg INSERT loop as the `create` pair, so the two ratios can be read together:
`create_floor`'s ratio is the ceiling of `create`'s on this machine.
"""

from __future__ import annotations

import sys
from typing import Any

INSERT = "INSERT INTO public.bench_floor (payload) VALUES ($1::jsonb)"
METHOD = "/bench.Floor/Create"


def serve_grpc(port: int, database_url: str) -> None:
    import asyncpg
    import grpc
    import uvloop

    async def main() -> None:
        pool = await asyncpg.create_pool(database_url, min_size=4, max_size=16)

        async def create(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            await pool.execute(INSERT, request.decode())
            return request

        server = grpc.aio.server()
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            "bench.Floor", {"Create": grpc.unary_unary_rpc_method_handler(create)})])
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    uvloop.run(main())


def serve_http(port: int, grpc_port: int) -> None:
    import grpc
    import uvicorn

    calls: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # one channel per process, as the gateway does
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    calls["create"] = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}").unary_unary(METHOD)
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer = await calls["create"](body)
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, loop="uvloop", http="httptools",
                log_level="warning", access_log=False)


if __name__ == "__main__":
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "grpc":
        serve_grpc(port, sys.argv[3])
    elif mode == "http":
        serve_http(port, int(sys.argv[3]))
    else:
        sys.exit(f"usage: {sys.argv[0]} grpc PORT DATABASE_URL | http PORT GRPC_PORT")
