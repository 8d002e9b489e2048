"""The one writer of ``escalation.consumer_cursor``: how far a follower of an event stream got
(the inbox consumer of ticketing's stream, consumer.py; the clock projection of the inbox,
clocks/projector.py). Each function takes the caller's session and never commits, so a position moves in
the same transaction as what was stored up to it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = ["advance", "ensure", "move_to"]


async def ensure(session: AsyncSession, name: str, now: datetime) -> None:
    """The cursor exists (at 0 when new), so it can be locked."""
    await (await session.connection()).execute(
        text("INSERT INTO escalation.consumer_cursor (name, last_sequence, updated_at) "
             "VALUES (:n, 0, :now) ON CONFLICT (name) DO NOTHING"),
        {"n": name, "now": now},
    )


async def advance(session: AsyncSession, name: str, sequence: int, now: datetime) -> None:
    """Create or move the cursor forward to `sequence` (never back: a replayed row keeps it)."""
    await (await session.connection()).execute(
        text(
            "INSERT INTO escalation.consumer_cursor (name, last_sequence, updated_at) "
            "VALUES (:n, :seq, :now) ON CONFLICT (name) DO UPDATE "
            "SET last_sequence = GREATEST(consumer_cursor.last_sequence, EXCLUDED.last_sequence), "
            "updated_at = EXCLUDED.updated_at"
        ),
        {"n": name, "seq": sequence, "now": now},
    )


async def move_to(session: AsyncSession, name: str, sequence: int, now: datetime) -> None:
    """Set the cursor the caller holds locked (`ensure` + SELECT … FOR UPDATE) to `sequence`."""
    await (await session.connection()).execute(
        text("UPDATE escalation.consumer_cursor SET last_sequence = :s, updated_at = :now WHERE name = :n"),
        {"s": sequence, "now": now, "n": name},
    )
