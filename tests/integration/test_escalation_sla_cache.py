"""Escalation: the published matrix's cells answered from memory (issue #15, cheap create path),
dropped when a publish commits anywhere. A database of this module's own: it publishes
matrices and edits a calendar, which the session's shared database must not see."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from kefu_common.db import Database
from kefu_common.embedded import drop_database, ensure_database
from kefu_escalation.configuration import service
from kefu_escalation.configuration.published_sla import PublishedSlaCache

FIRST_CONTACT = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def db(pg_server_url: str) -> AsyncIterator[Database]:
    from kefu_escalation.app import service as escalation

    name = f"kefu_slacache_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = await ensure_database(pg_server_url, name)
    await asyncio.to_thread(escalation.migrate, url)
    database = Database(url, schema="escalation", pool_size=3)
    yield database
    await database.dispose()
    await drop_database(pg_server_url, name)


@pytest.fixture
async def cache(db: Database) -> AsyncIterator[PublishedSlaCache]:
    cells = PublishedSlaCache(db)
    await cells.start()
    yield cells
    await cells.stop()


async def resolve(db: Database, cells: PublishedSlaCache | None, *, severity: str = "high") -> service.SlaAssignment:
    async with db.session() as session:
        return await service.resolve_sla(session, tier="standard", sensitive=False, severity=severity,
                                         channel="phone", first_contact_at=FIRST_CONTACT, cells=cells)


async def wait_for_invalidation(cells: PublishedSlaCache, seen: int) -> None:
    """The NOTIFY of another process's commit arrives asynchronously: wait for it (bounded)."""
    async with asyncio.timeout(20):
        while cells.generation == seen:
            await asyncio.sleep(0.01)


async def republish_with_level(db: Database, severity: str, level: str) -> int:
    """The latest matrix again with one cell's level changed, as another replica would."""
    async with db.session() as session:
        current = await service.get_matrix(session)
        cells = [
            service.Cell(tier=c.tier, severity=c.severity, policy_id=c.policy_id, policy_version=c.policy_version,
                         level=level if (c.tier, c.severity) == ("standard", severity) else c.level)
            for c in current.cells
        ]
        view = await service.publish_matrix(session, cells, note="test", request_id=f"test/{uuid.uuid4().hex}",
                                            now=datetime.now(UTC))
    return view.version.version


async def test_the_second_resolve_of_a_cell_is_answered_from_memory_with_the_same_assignment(db, cache) -> None:
    direct = await resolve(db, None)
    first = await resolve(db, cache)
    second = await resolve(db, cache)
    assert (cache.misses, cache.hits) == (1, 1)
    assert first == second == direct


async def test_a_matrix_published_elsewhere_reaches_the_next_resolve_through_notify(db, cache) -> None:
    before = await resolve(db, cache, severity="normal")
    seen = cache.generation
    level = "L3" if before.level != "L3" else "L2"
    version = await republish_with_level(db, "normal", level)  # not through this cache's process
    await wait_for_invalidation(cache, seen)
    after = await resolve(db, cache, severity="normal")
    assert (after.level, after.matrix_version) == (level, version)


async def test_a_calendar_edit_reaches_the_next_resolve_through_notify(db, cache) -> None:
    before = await resolve(db, cache, severity="critical")
    name = before.policy.calendar
    async with db.session() as session:
        row = await service.get_calendar(session, name)
        spec = service.stored_spec(row)
    seen = cache.generation
    holiday = FIRST_CONTACT.date().isoformat()
    edited = service.calendar_spec(name=name, tz=spec["tz"], weekly=spec["weekly"],
                                   holidays=sorted({*spec.get("holidays", []), holiday}),
                                   extra_workdays=spec.get("extra_workdays", {}))
    async with db.session() as session:
        await service.upsert_calendar(session, edited, now=datetime.now(UTC))
    await wait_for_invalidation(cache, seen)
    after = await resolve(db, cache, severity="critical")
    direct = await resolve(db, None, severity="critical")
    assert after == direct
    assert cache.hits == 0  # every answer after the edit was read again


async def test_a_publish_that_commits_during_a_fill_is_never_overwritten_by_the_older_read(db, cache) -> None:
    async with db.session() as session:
        reading = asyncio.ensure_future(cache.cell(session, "standard", "low"))
        while cache.misses == 0:  # until the read has started and waits on the database
            await asyncio.sleep(0)
        cache.invalidate()  # a publish's notification arrives while the read is in flight
        await reading
    assert cache.misses == 1
    await resolve(db, cache, severity="low")
    assert (cache.misses, cache.hits) == (2, 0)  # the in-flight read was not kept


async def test_without_a_listening_connection_every_resolve_reads_the_database(db) -> None:
    cells = PublishedSlaCache(db)  # never started: nobody would tell it of a publish
    await resolve(db, cells)
    await resolve(db, cells)
    assert (cells.misses, cells.hits) == (2, 0)
