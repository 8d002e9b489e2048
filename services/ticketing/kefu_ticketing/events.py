"""The ticketing event stream: a transactional outbox, read in commit order.

`append_event` writes the event row in the caller's transaction, so an event exists exactly
when its change committed. Writers take a transaction-scoped advisory lock just before the
insert: sequence numbers are therefore handed out in commit order, and a reader that has seen
sequence N never later finds a smaller one committed (no gaps to skip). The lock is held only
from the insert to the commit. `pg_notify` (delivered at commit) wakes live followers.
"""

from __future__ import annotations

import uuid
import zlib
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.metrics import OUTBOX_LAST_SEQUENCE
from kefu_ticketing.models import OutboxEvent

OUTBOX_LOCK_KEY = zlib.crc32(b"kefu-ticketing-outbox")
NOTIFY_CHANNEL = "kefu_ticketing_outbox"

EVENT_TYPES = (
    "ticket.created",
    "ticket.updated",
    "ticket.assigned",
    "ticket.contact_logged",
    "ticket.progress_added",
    "ticket.progress_viewed",
    "ticket.status_changed",
    "ticket.rated",
)


async def append_event(
    session: AsyncSession,
    *,
    event_type: str,
    ticket_id: uuid.UUID,
    payload: dict[str, Any],
    occurred_at: datetime,
) -> OutboxEvent:
    """Add one event to the outbox in the current transaction. Call it last in a write."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    conn = await session.connection()
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": OUTBOX_LOCK_KEY})
    event = OutboxEvent(
        event_type=event_type, ticket_id=ticket_id, payload=payload, occurred_at=occurred_at
    )
    session.add(event)
    await session.flush()
    await conn.execute(
        text("SELECT pg_notify(:channel, :sequence)"),
        {"channel": NOTIFY_CHANNEL, "sequence": str(event.sequence)},
    )
    OUTBOX_LAST_SEQUENCE.set(event.sequence)
    return event
