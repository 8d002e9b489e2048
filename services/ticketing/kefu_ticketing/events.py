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

from sqlmodel.ext.asyncio.session import AsyncSession

from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.db import driver_connection
from kefu_common.metrics import OUTBOX_LAST_SEQUENCE
from kefu_common.protoconv import to_timestamp
from kefu_common.ticket_events import event_type
from kefu_ticketing.models import OutboxEvent

OUTBOX_LOCK_KEY = zlib.crc32(b"kefu-ticketing-outbox")
NOTIFY_CHANNEL = "kefu_ticketing_outbox"
# The envelope: stored in the row's columns, not in its body.
ENVELOPE = ("sequence", "event_id", "type", "ticket_id", "occurred_at")


async def append_event(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID,
    body: ticketing_pb2.Event,
    occurred_at: datetime,
) -> OutboxEvent:
    """Add one event to the outbox in the current transaction. Call it last in a write.

    `body` is the ticket after the change and the change (the `change` oneof): stored
    serialized; the envelope comes from the row (`to_message`). The session's pending changes
    are flushed first; the event itself goes in on the driver connection (`append_event_raw`)."""
    await session.flush()
    return await append_event_raw(
        await driver_connection(session), ticket_id=ticket_id, body=body, occurred_at=occurred_at
    )


async def append_event_raw(
    conn: Any,
    *,
    ticket_id: uuid.UUID,
    body: ticketing_pb2.Event,
    occurred_at: datetime,
    with_statement: str = "",
    params: tuple[Any, ...] = (),
) -> OutboxEvent:
    """`append_event` on an asyncpg connection inside the transaction, in one statement: the
    advisory lock, the insert and the notification. `with_statement` is one more CTE
    (``name AS (INSERT ...)``) written in the same round trip; it may use $1 (the ticket id),
    $2 (`occurred_at`) and `params` from $6 on."""
    kind = event_type(body)
    if not kind or any(body.HasField(f) if f == "occurred_at" else getattr(body, f) for f in ENVELOPE):
        raise ValueError("an event body needs a change and no envelope fields")
    event_id = uuid.uuid4()
    payload = body.SerializeToString()
    sequence = await conn.fetchval(
        _APPEND.format(extra=f"{with_statement},\n" if with_statement else ""),
        ticket_id, occurred_at, kind, payload, event_id, *params,
    )
    OUTBOX_LAST_SEQUENCE.set(sequence)
    return OutboxEvent(
        sequence=sequence, event_id=event_id, event_type=kind, ticket_id=ticket_id, body=payload,
        occurred_at=occurred_at,
    )


# The lock is taken first (the insert reads from it), so the sequence is drawn under it.
_APPEND = f"""WITH outbox_lock AS (SELECT pg_advisory_xact_lock({OUTBOX_LOCK_KEY})),
{{extra}}event AS (
    INSERT INTO ticketing.outbox_event (event_id, event_type, ticket_id, body, occurred_at)
    SELECT $5::uuid, $3, $1, $4, $2 FROM outbox_lock RETURNING sequence)
SELECT sequence FROM event, pg_notify('{NOTIFY_CHANNEL}', sequence::text)"""


def to_message(row: OutboxEvent) -> ticketing_pb2.Event:
    """The stream's message of an outbox row: the envelope from its columns, then its body."""
    event = ticketing_pb2.Event(
        sequence=row.sequence or 0,
        event_id=str(row.event_id),
        type=row.event_type,
        ticket_id=str(row.ticket_id),
        occurred_at=to_timestamp(row.occurred_at),
    )
    event.MergeFromString(row.body)
    return event
