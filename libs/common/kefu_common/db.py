"""The async database layer: SQLModel on asyncpg, one session per request/RPC, one commit.

    async with db.session() as session:       # opens a transaction
        ticket = await service.create(session, ...)   # services flush, never commit
    # committed here on success, rolled back on any exception

Each service owns one PostgreSQL schema; its connections put that schema first on the
search_path and its tables name it explicitly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

T = TypeVar("T")

_SYNC_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg", "postgresql+psycopg"}


def to_async_url(url: str) -> str:
    """Normalise any PostgreSQL URL to the asyncpg dialect SQLAlchemy understands."""
    parts = urlsplit(url)
    if parts.scheme not in _SYNC_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL: scheme {parts.scheme!r}")
    return urlunsplit(parts._replace(scheme="postgresql+asyncpg"))


def to_libpq_url(url: str) -> str:
    """The same URL in the plain form asyncpg.connect() and psql accept."""
    parts = urlsplit(url)
    if parts.scheme not in _SYNC_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL: scheme {parts.scheme!r}")
    return urlunsplit(parts._replace(scheme="postgresql"))


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under `session`, inside the session's transaction, for hot paths
    where SQLAlchemy's own per-statement cost (~0.1 ms of CPU, more than the round trip) is the
    bottleneck. Statements on it commit or roll back with the session; nothing else changes
    (use asyncpg's ``$n`` parameters; rows are asyncpg Records)."""
    conn = await session.connection()
    raw = (await conn.get_raw_connection()).driver_connection
    if not raw.is_in_transaction():  # the session begins lazily, at its first statement
        await conn.exec_driver_sql("SELECT 1")
    return raw


def json_param(rows: Any) -> str:
    """A batch of rows as one JSON parameter, for ``jsonb_to_recordset($1::jsonb) AS v(col type,
    ...)``: encoded in one orjson call, where asyncpg encodes each element of an array
    parameter in turn (several times the CPU for wide batches). Datetimes become ISO 8601,
    UUIDs (asyncpg's too) and anything else JSON has no type for their str()."""
    return orjson.dumps(rows, default=str).decode()


class Database:
    def __init__(
        self,
        url: str,
        *,
        schema: str,
        pool_size: int = 10,
        application_name: str | None = None,
        direct_url: str | None = None,
    ) -> None:
        self.schema = schema
        self.url = url
        # The primary itself, when `url` is a transaction pooler (PgBouncer): LISTEN and
        # session-scoped advisory locks need a server connection of their own.
        self.direct_url = direct_url or url
        self._direct_engine: AsyncEngine | None = None
        self._application_name = application_name or f"kefu-{schema}"
        self.engine: AsyncEngine = self._engine(url, pool_size=pool_size, max_overflow=pool_size)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, autoflush=False
        )

    @property
    def direct_engine(self) -> AsyncEngine:
        """One connection to `direct_url`, opened on first use, for session-scoped work (a lock
        held for as long as a process leads). The same engine as `engine` when no pooler is in
        between."""
        if self.direct_url == self.url:
            return self.engine
        if self._direct_engine is None:
            self._direct_engine = self._engine(self.direct_url, pool_size=1, max_overflow=0)
        return self._direct_engine

    def _engine(self, url: str, *, pool_size: int, max_overflow: int) -> AsyncEngine:
        """An engine on `url` with this database's schema and application name."""
        return create_async_engine(
            to_async_url(url),
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,  # survive a PostgreSQL restart without surfacing dead sockets
            pool_recycle=1800,
            connect_args={
                "server_settings": {
                    "search_path": f"{self.schema},public",
                    "application_name": self._application_name,
                },
            },
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit once on success, roll back on any exception."""
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Any]:
        """A pooled asyncpg connection outside any transaction, for a hot path's one-statement
        read (GetTicket): no BEGIN/COMMIT round trips and no ORM, only the pool's pre-ping.
        Use asyncpg's ``$n`` parameters; rows are asyncpg Records."""
        async with self.engine.connect() as conn:
            yield (await conn.get_raw_connection()).driver_connection

    async def idempotent(
        self,
        write: Callable[[AsyncSession], Awaitable[T]],
        replay: Callable[[AsyncSession], Awaitable[T | None]],
    ) -> T:
        """Run an idempotent command: `write` in one transaction; if a concurrent call with the
        same idempotency key committed first (a unique violation at flush or commit), answer
        with what `replay` finds in a fresh transaction. Any other violation is re-raised."""
        try:
            async with self.session() as session:
                return await write(session)
        except (IntegrityError, asyncpg.IntegrityConstraintViolationError):
            # (the second when the violating statement ran on `driver_connection`)
            async with self.session() as session:
                found = await replay(session)
            if found is None:
                raise
            return found

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._direct_engine is not None:
            await self._direct_engine.dispose()
