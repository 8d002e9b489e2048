"""Alembic, one migration history per service schema.

Each service has `migrations/` beside its package with an `env.py` of two lines:

    from kefu_common.migrations import run_env
    run_env(schema="ticketing")

The history table lives in the service's schema (`<schema>.alembic_version`), so services
migrate independently. A transaction-scoped advisory lock lets several replicas start at once.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from kefu_common.db import to_async_url


def alembic_config(migrations_dir: Path, database_url: str, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("version_locations", str(migrations_dir / "versions"))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(migrations_dir: Path, database_url: str, schema: str, revision: str = "head") -> None:
    """Apply migrations (synchronous; call from a thread when a loop is running)."""
    command.upgrade(alembic_config(migrations_dir, database_url, schema), revision)


def downgrade(migrations_dir: Path, database_url: str, schema: str, revision: str) -> None:
    command.downgrade(alembic_config(migrations_dir, database_url, schema), revision)


def _do_run(connection: Connection, schema: str) -> None:
    lock_key = zlib.crc32(f"kefu-migrations-{schema}".encode())
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
    connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    connection.execute(text(f'SET LOCAL search_path TO "{schema}", public'))
    context.configure(
        connection=connection,
        version_table_schema=schema,
        include_schemas=False,
        transaction_per_migration=False,
    )
    context.run_migrations()


async def _run_online(url: str, schema: str) -> None:
    engine = create_async_engine(to_async_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_do_run, schema)
    finally:
        await engine.dispose()


def run_env(*, schema: str) -> None:
    """Body of every service's alembic env.py."""
    cfg = context.config
    url = cfg.attributes.get("database_url") or cfg.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL given to alembic")
    if context.is_offline_mode():
        context.configure(url=url, version_table_schema=schema, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(url, schema))


def replace_column(table: str, *, schema: str, key: str, old: str, new: Any, read: str,
                   convert: Callable[[Any], Any], value_sql: str = ":v", batch: int = 1000) -> None:
    """Inside a migration: replace column `old` of `schema.table` by the column `new` (an
    `sa.Column`, NOT NULL once filled), computed row by row in key order and batches:
    `convert(row)` gets (key, *the columns `read`) and returns the new value (`value_sql` may
    cast it, e.g. "CAST(:v AS jsonb)")."""
    from alembic import op  # the migration's connection (only inside a running migration)

    new.nullable = True
    op.add_column(table, new, schema=schema)
    conn = op.get_bind()
    after: Any = 0
    while True:
        rows = conn.execute(text(f"SELECT {key}, {read} FROM {schema}.{table} WHERE {key} > :after "
                                 f"ORDER BY {key} LIMIT :lim"), {"after": after, "lim": batch}).all()
        if not rows:
            break
        conn.execute(text(f"UPDATE {schema}.{table} SET {new.name} = {value_sql} WHERE {key} = :s"),
                     [{"s": r[0], "v": convert(r)} for r in rows])
        after = rows[-1][0]
    op.alter_column(table, new.name, nullable=False, schema=schema)
    op.drop_column(table, old, schema=schema)
