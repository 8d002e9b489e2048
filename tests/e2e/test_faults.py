"""Fault tests on real processes: kill -9 each service in turn, and restart PostgreSQL, under a
steady load of ticket creation and contacts through the gateway; then check in the database
that nothing acknowledged to a client was lost and nothing was applied twice.

The module runs on its own embedded PostgreSQL server (.kefu/fault-pgdata), since one test
restarts it."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from kefu_common.db import to_libpq_url
from kefu_common.devstack import Stack
from kefu_common.embedded import (
    drop_database,
    ensure_database,
    restart_embedded_postgres,
    start_embedded_postgres,
    stop_embedded_postgres,
)
from kefu_common.settings import PROJECT_ROOT
from e2e_load import SteadyLoad, assert_nothing_lost_or_doubled, wait_for

pytestmark = pytest.mark.e2e

FAULT_PGDATA = PROJECT_ROOT / ".kefu" / "fault-pgdata"


@pytest.fixture(scope="module")
async def database_url() -> AsyncIterator[str]:
    """Overrides the session's database for this module (and so the e2e `stack` fixture):
    a fresh, migrated database on a PostgreSQL server of this module's own."""
    from kefu_escalation.app import service as escalation
    from kefu_scoring.app import service as scoring
    from kefu_ticketing.app import service as ticketing

    server_url = start_embedded_postgres(FAULT_PGDATA)
    name = f"kefu_fault_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = await ensure_database(server_url, name)
    for service in (escalation, ticketing, scoring):
        await asyncio.to_thread(service.migrate, url)
    yield url
    await drop_database(server_url, name)
    stop_embedded_postgres(FAULT_PGDATA)


async def test_kill_9_of_each_service_under_load_loses_no_acknowledged_write_and_doubles_none(
    stack: Stack, client: httpx.Client, database_url: str
) -> None:
    load = SteadyLoad(stack.gateway_url, stack.token("agent", "fault-agent"))
    load.start()
    try:
        wait_for(lambda: load.acknowledged() >= 5, "the load to get going")
        for name in ("ticketing", "escalation", "scoring", "gateway"):
            stack.kill(name)
            if name == "scoring":
                # A dead downstream is a prompt 503, not a hung request.
                down = client.post("/v1/qa/evaluations", json={"turns": [{"role": "agent", "text": "您好"}]})
                assert down.status_code == 503, down.text
            before = load.acknowledged()
            stack.start(name)
            wait_for(lambda b=before: load.acknowledged() >= b + 5, f"progress after restarting {name}")
            assert load.error is None and load.is_alive(), load.error
    finally:
        load.stopping.set()
        load.join(timeout=30)
    assert load.error is None, load.error
    assert not load.is_alive()
    assert load.acked_tickets and load.acked_contacts
    failures = sum(n for status, n in load.statuses.items() if status != "201")
    assert failures > 0, "no request failed: the kills were not under load"

    await assert_nothing_lost_or_doubled(load, database_url)


async def test_services_reconnect_by_themselves_after_postgresql_restarts_under_load(
    stack: Stack, database_url: str
) -> None:
    load = SteadyLoad(stack.gateway_url, stack.token("agent", "fault-agent"))
    load.start()
    try:
        wait_for(lambda: load.acknowledged() >= 5, "the load to get going")
        before = load.acknowledged()
        started_before = await postmaster_start_time(database_url)
        await asyncio.to_thread(restart_embedded_postgres, FAULT_PGDATA)
        assert await postmaster_start_time(database_url) > started_before
        wait_for(lambda: load.acknowledged() >= before + 10 or load.error is not None,
                 "progress after the restart")
        assert load.error is None and load.is_alive(), load.error
    finally:
        load.stopping.set()
        load.join(timeout=30)
    assert load.error is None, load.error
    await assert_nothing_lost_or_doubled(load, database_url)


async def postmaster_start_time(database_url: str) -> object:
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        return await conn.fetchval("SELECT pg_postmaster_start_time()")
    finally:
        await conn.close()


def test_a_hung_downstream_gives_a_504_at_the_deadline_not_a_hung_request(
    stack: Stack, client: httpx.Client
) -> None:
    """SIGSTOP: ticketing still accepts connections but never answers (a slow or wedged
    service). The gateway's per-call deadline (GATEWAY_RPC_TIMEOUT_SECONDS, 5 s) ends the
    request with 504 well inside the client's own 10 s timeout."""
    created = client.post("/v1/tickets", json={
        "customer": {"id": f"H-{uuid.uuid4().hex[:8]}", "tier": "standard"}, "channel": "phone",
        "severity": "normal", "category": "quality", "subject": "hung downstream",
    })
    assert created.status_code == 201, created.text
    ticketing = stack.procs["ticketing"]
    os.kill(ticketing.pid, signal.SIGSTOP)
    try:
        hung = client.get(f"/v1/tickets/{created.json()['id']}")
    finally:
        os.kill(ticketing.pid, signal.SIGCONT)
    assert hung.status_code == 504, hung.text
    assert hung.json()["code"] == "upstream_timeout"
    assert hung.headers["retry-after"]
    wait_for(lambda: client.get(f"/v1/tickets/{created.json()['id']}").status_code == 200,
             "ticketing to answer again after SIGCONT")
