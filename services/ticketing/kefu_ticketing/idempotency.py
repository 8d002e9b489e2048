"""Idempotent commands: every mutating RPC carries a client request id.

The reply of the first successful call is stored (serialized protobuf) in the same transaction
as the change; a retry with the same id gets that reply back and writes nothing. The same id
with a different request body is refused. Concurrent duplicates race on the primary key and
the loser answers with the winner's stored reply (`Database.idempotent`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.clock import Clock
from kefu_common.db import Database, driver_connection
from kefu_common.errors import AlreadyExists, InvalidArgument
from kefu_ticketing.models import IdempotencyRecord

R = TypeVar("R", bound=Message)


def fingerprint(request: Message) -> str:
    """sha256 of the request without its request_id (deterministic serialization)."""
    body = type(request)()
    body.CopyFrom(request)
    body.ClearField("request_id")  # type: ignore[arg-type]
    return hashlib.sha256(body.SerializeToString(deterministic=True)).hexdigest()


def _check_request_id(request_id: str) -> None:
    if not request_id.strip() or len(request_id) > 128:
        raise InvalidArgument(
            "request_id is required (1..128 characters)", code="invalid_request_id"
        )


_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
_LOOKUP = ("SELECT request_hash, response FROM ticketing.idempotency_record "
           "WHERE request_id = $1 AND command = $2")
_RECORD = ("INSERT INTO ticketing.idempotency_record "
           "(request_id, command, request_hash, response, created_at) VALUES ($1, $2, $3, $4, $5)")


def _replay(record: Any, digest: str, request_id: str, reply_type: type[R]) -> R | None:
    """The stored reply of a (request_hash, response) row, or None without a row."""
    if record is None:
        return None
    if record[0] != digest:
        raise AlreadyExists(
            f"request_id {request_id!r} was already used with a different request",
            code="idempotency_key_reused",
        )
    return reply_type.FromString(record[1])


async def _stored(
    session: AsyncSession, command: str, request_id: str, digest: str, reply_type: type[R]
) -> R | None:
    record = await session.get(IdempotencyRecord, (request_id, command))
    return _replay(None if record is None else (record.request_hash, record.response), digest,
                   request_id, reply_type)


async def run_command(
    db: Database,
    clock: Clock,
    *,
    command: str,
    request: Message,
    reply_type: type[R],
    write: Callable[[AsyncSession], Awaitable[R]],
) -> R:
    request_id: str = request.request_id  # type: ignore[attr-defined]
    _check_request_id(request_id)
    digest = fingerprint(request)

    async def first_or_replay(session: AsyncSession) -> R:
        # Serialise calls with the same key: a concurrent duplicate waits for the first to
        # commit and then replays it (instead of, say, failing its version check). The lock,
        # the look-up and the record go on the driver connection (no ORM round trips); the
        # look-up is its own statement so that its snapshot is taken after the lock is held.
        conn = await driver_connection(session)
        await conn.execute(_LOCK, f"{command}/{request_id}")
        stored = _replay(await conn.fetchrow(_LOOKUP, request_id, command), digest, request_id,
                         reply_type)
        if stored is not None:
            return stored
        reply = await write(session)
        await session.flush()  # whatever the write left to the ORM, before the record
        await conn.execute(_RECORD, request_id, command, digest, reply.SerializeToString(),
                           clock.now())
        return reply

    return await db.idempotent(
        first_or_replay,
        lambda session: _stored(session, command, request_id, digest, reply_type),
    )
