"""kefu_common.db.driver_connection: statements on the session's asyncpg connection belong to
the session's transaction (one commit, one rollback), even when one is the session's first
statement (the session begins lazily). Real PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from kefu_common.db import Database, driver_connection, json_param


@pytest.fixture(scope="module")
async def db(database_url: str):
    database = Database(database_url, schema="public", pool_size=2)
    async with database.session() as session:
        await (await session.connection()).execute(text(
            "CREATE TABLE IF NOT EXISTS public.driver_connection_probe (id uuid PRIMARY KEY, note text)"))
    yield database
    await database.dispose()


async def count(db: Database, ids: list[uuid.UUID]) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(text(
            "SELECT count(*) FROM public.driver_connection_probe WHERE id = ANY(:i)"), {"i": ids}))


async def test_a_raw_first_statement_rolls_back_with_the_session(db) -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            raw = await driver_connection(session)  # nothing ran through the session yet
            await raw.execute(
                "INSERT INTO public.driver_connection_probe SELECT * FROM jsonb_to_recordset($1::jsonb) "
                "AS v(id uuid, note text)", json_param([{"id": i, "note": "rolled back"} for i in ids]))
            raise RuntimeError("the unit of work fails after the write")
    assert await count(db, ids) == 0


async def test_raw_and_session_statements_commit_together(db) -> None:
    ids = [uuid.uuid4(), uuid.uuid4()]
    async with db.session() as session:
        await (await session.connection()).execute(text(
            "INSERT INTO public.driver_connection_probe VALUES (:i, 'via the session')"), {"i": ids[0]})
        await (await driver_connection(session)).execute(
            "INSERT INTO public.driver_connection_probe VALUES ($1, 'raw')", ids[1])
        assert await count(db, ids) == 0  # not visible to others before the commit
    assert await count(db, ids) == 2
