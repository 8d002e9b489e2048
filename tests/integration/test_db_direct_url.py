"""kefu_common.db.Database.direct_engine: session-scoped work (LISTEN, a lock held while a
process leads) goes to DATABASE_DIRECT_URL when the pool's URL is a transaction pooler, and to
the pool's own engine when there is none. Real PostgreSQL: the direct URL here names another
database on the same server, so the two connections can be told apart."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text

from kefu_common.db import Database


async def _database_of(engine) -> str:
    async with engine.connect() as conn:
        return str(await conn.scalar(text("SELECT current_database()")))


async def test_session_scoped_work_goes_to_the_direct_url(database_url: str) -> None:
    direct = urlunsplit(urlsplit(database_url)._replace(path="/postgres"))
    db = Database(database_url, schema="public", pool_size=1, direct_url=direct)
    try:
        assert await _database_of(db.direct_engine) == "postgres"
        assert await _database_of(db.engine) == urlsplit(database_url).path.lstrip("/")
        assert db.direct_engine is db.direct_engine  # one engine, opened once
    finally:
        await db.dispose()


async def test_without_a_direct_url_session_work_shares_the_pool(database_url: str) -> None:
    db = Database(database_url, schema="public", pool_size=1)
    try:
        assert db.direct_engine is db.engine
        assert db.direct_url == database_url
    finally:
        await db.dispose()
