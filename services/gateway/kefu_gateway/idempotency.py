"""Idempotency-Key for the gateway's own writes (webhook subscriptions, redeliveries).

Ticket commands are made idempotent by the ticketing service itself (request_id); writes that
live in the gateway schema keep their first reply here, in the same transaction as the write:
the same key and body replay it, the same key with another body is 422
`idempotency_key_reused`. Calls with one key are serialised by an advisory lock on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.errors import AlreadyExists
from kefu_gateway.models import IdempotencyRecord

Reply = tuple[int, dict[str, Any]]


async def run_idempotent(
    db: Database,
    *,
    scope: str,
    request_id: str | None,
    body: Any,
    write: Callable[[AsyncSession], Awaitable[Reply]],
    clock: Clock,
) -> Reply:
    """`write`'s (status, JSON body) — or, for a repeated `request_id`, the first one's."""
    if request_id is None:
        async with db.session() as session:
            return await write(session)
    key = f"{scope}/{request_id}"
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    async with db.session() as session:
        conn = await session.connection()
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})
        record = await session.get(IdempotencyRecord, key)
        if record is not None:
            if record.request_hash != digest:
                raise AlreadyExists(
                    "this Idempotency-Key was already used with a different request",
                    code="idempotency_key_reused",
                )
            return record.status_code, record.response
        status, reply = await write(session)
        session.add(
            IdempotencyRecord(
                key=key, request_hash=digest, status_code=status, response=reply, created_at=clock.now()
            )
        )
        await session.flush()
        return status, reply
