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
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

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


class Database:
    def __init__(
        self,
        url: str,
        *,
        schema: str,
        pool_size: int = 10,
        application_name: str | None = None,
    ) -> None:
        self.schema = schema
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            to_async_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,  # survive a PostgreSQL restart without surfacing dead sockets
            pool_recycle=1800,
            connect_args={
                "server_settings": {
                    "search_path": f"{schema},public",
                    "application_name": application_name or f"kefu-{schema}",
                },
            },
        )
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False, autoflush=False
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
        except IntegrityError:
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
