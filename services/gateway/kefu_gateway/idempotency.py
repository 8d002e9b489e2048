"""Idempotency-Key for the gateway's own writes and for downstream commands that do not
compare bodies themselves.

Ticket commands are made idempotent by the ticketing service itself (request_id, the request
fingerprinted); writes that live in the gateway schema (webhook subscriptions, redeliveries)
keep their first reply here, in the same transaction as the write, and so do the downstream
commands sent through `keyed_command` (QA reviews and appeal decisions, green-channel
escalations): the same key and body replay the first reply, the same key with another body is
422 `idempotency_key_reused`. Calls with one key are serialised by an advisory lock on it.
Records are kept `KEFU_IDEMPOTENCY_RETENTION_HOURS` (kefu_common.idempotency purges them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.errors import AlreadyExists
from kefu_gateway.auth import Principal
from kefu_gateway.deps import request_id_for
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


async def keyed_command(
    request: Request,
    principal: Principal,
    key: str | None,
    scope: str,
    body: dict[str, Any],
    call: Callable[[], Awaitable[Reply]],
) -> JSONResponse:
    """Idempotency-Key for a downstream command whose service does not compare the body of a
    repeated request id: the first reply is kept in the gateway's idempotency records and
    replayed for the same key and body; another body with the key is 422
    `idempotency_key_reused`."""
    state = request.app.state

    async def write(_session: Any) -> Reply:
        return await call()

    status_code, reply = await run_idempotent(
        state.db, scope=scope, request_id=request_id_for(principal, key) if key else None,
        body=body, write=write, clock=state.clock,
    )
    return JSONResponse(reply, status_code=status_code)
