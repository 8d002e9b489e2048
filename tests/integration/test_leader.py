"""One leader among replicas (kefu_common.leader) on a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from kefu_common.db import Database
from kefu_common.leader import KEEPALIVE, leadership, lock_key


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two processes' databases: separate engines, so separate PostgreSQL sessions."""
    a, b = (Database(database_url, schema="escalation", pool_size=1) for _ in range(2))
    yield a, b
    await a.dispose()
    await b.dispose()


async def test_one_replica_leads_at_a_time_and_the_lead_passes_on_when_it_ends(replicas) -> None:
    a, b = replicas
    key = lock_key("test-leader", uuid.uuid4().hex)
    async with leadership(a, key) as first:
        async with leadership(b, key) as second:
            assert (first, second) == (True, False)
    async with leadership(b, key) as second:  # the first replica's block ended: its lock too
        assert second


async def test_the_lock_connection_goes_back_to_the_pool_with_the_server_defaults(replicas) -> None:
    a, _ = replicas
    async with a.direct_engine.connect() as conn:
        defaults = {name: await conn.scalar(text(f"SHOW {name}")) for name, _ in KEEPALIVE}
    async with leadership(a, lock_key("test-leader", uuid.uuid4().hex)) as leading:
        assert leading
    async with a.direct_engine.connect() as conn:  # pool_size 1: the lock's own connection
        assert {name: await conn.scalar(text(f"SHOW {name}")) for name, _ in KEEPALIVE} == defaults
        assert await conn.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                      "AND pid = pg_backend_pid()")) == 0
