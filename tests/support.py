"""Helpers the test modules share (import them: `from support import ...`).

Kept out of conftest.py on purpose: there are several conftest modules, so
`from conftest import ...` would be ambiguous.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

PROBLEM_JSON = "application/problem+json"


def staff_headers(settings: Any, role: str = "agent", subject: str = "test-agent") -> dict[str, str]:
    from kefu_gateway.auth import issue_token

    token = issue_token(settings.jwt_secret.get_secret_value(), subject=subject, role=role, issuer=settings.jwt_issuer)
    return {"Authorization": f"Bearer {token}"}


def ticket_body(customer_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid `POST /v1/tickets` body for a fresh customer (or `customer_id`)."""
    import uuid

    body: dict[str, Any] = {
        "customer": {"id": customer_id or f"C-{uuid.uuid4().hex[:12]}", "name": "王女士", "tier": "standard"},
        "channel": "app",
        "severity": "normal",
        "category": "logistics",
        "subject": "快递三天没有更新",
    }
    body.update(overrides)
    return body


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with this status and stable code, carrying the request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["detail"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def error_code(err: Any) -> str | None:
    """The stable `kefu-error-code` a gRPC error carries in its trailing metadata."""
    from kefu_common.errors import ERROR_CODE_METADATA_KEY

    return dict(err.trailing_metadata() or ()).get(ERROR_CODE_METADATA_KEY)


def free_port() -> int:
    """A TCP port free on loopback right now (for processes that cannot take port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
@asynccontextmanager
async def running_gateway(settings: Any, *, clock: Any = None) -> AsyncIterator[tuple[Any, Any]]:
    """A gateway app inside its lifespan and an httpx client on it (ASGI transport)."""
    import httpx

    from kefu_gateway.app import create_app

    app = create_app(settings, configure_logs=False, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield app, client


async def new_partner_key(db: Any, scopes: frozenset[str] | None = None) -> tuple[str, str]:
    """A fresh partner with one API key (every partner scope unless given): (partner id, key)."""
    import uuid

    from kefu_common.clock import SystemClock
    from kefu_gateway import partners
    from kefu_gateway.auth import PARTNER_SCOPES

    partner_id = f"p-{uuid.uuid4().hex[:10]}"
    async with db.session() as session:
        await partners.create_partner(session, partner_id=partner_id, name="ACME", clock=SystemClock())
        _, key = await partners.create_key(
            session, partner_id=partner_id, scopes=scopes or PARTNER_SCOPES,
            allowed_scopes=PARTNER_SCOPES, clock=SystemClock(),
        )
    return partner_id, key


@contextmanager
def served_in_thread(config: Any) -> Iterator[int]:
    """A real uvicorn server for `config` (a uvicorn.Config) in a thread of its own; its port."""
    import threading

    import uvicorn

    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        threading.Event().wait(0.02)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextmanager
def served_gateway(settings: Any) -> Iterator[str]:
    """The gateway app served by uvicorn on a loopback port (a real HTTP server): its base URL."""
    import uvicorn

    from kefu_gateway.app import create_app

    config = uvicorn.Config(
        create_app(settings, configure_logs=False), host="127.0.0.1", port=0, log_config=None,
        access_log=False, lifespan="on",
    )
    with served_in_thread(config) as port:
        yield f"http://127.0.0.1:{port}"

def load_bench_script(name: str) -> Any:
    """A script of bench/ (not a package) imported as a module, e.g. `load_bench_script("eval_risk")`."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outbox_json(body: bytes) -> dict[str, Any]:
    """A ticketing outbox row's typed body in its documented JSON form (docs/events.md)."""
    from kefu.ticketing.v1 import ticketing_pb2
    from kefu_common.ticket_events import to_json

    return to_json(ticketing_pb2.Event.FromString(body))
