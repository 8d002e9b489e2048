"""No network call inside a transaction that holds locks (issue #15): the escalation
notification relay and the scoring signal relay lease their rows, then send with no
transaction open (kefu_common.relay). While the receiver is being called, another connection
can lock the very row being delivered at once (FOR UPDATE NOWAIT)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import pytest
from sqlalchemy import text

from escalation_support import T0, Inbox, escalation_database
from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu_common.clock import ManualClock, SystemClock
from kefu_common.db import Database, to_libpq_url
from kefu_escalation.clocks.projector import ClockProjector
from kefu_escalation.notifications import NotificationDispatcher
from kefu_scoring import signals


async def lockable(database_url: str, sql: str, key: Any) -> bool:
    """Whether another connection can lock the row right now without waiting."""
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = '100ms'")
            await conn.fetch(sql + " FOR UPDATE NOWAIT", key)
        return True
    except asyncpg.exceptions.LockNotAvailableError:
        return False
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def escalation_db(database_url: str) -> AsyncIterator[Database]:
    async with escalation_database(database_url) as database:
        yield database


class LockProbeSink:
    def __init__(self, database_url: str, ticket: uuid.UUID) -> None:
        self.database_url, self.ticket = database_url, str(ticket)
        self.free_during_send: list[bool] = []

    async def send(self, notification: Mapping[str, Any]) -> None:
        if notification["ticket_id"] == self.ticket:
            self.free_during_send.append(await lockable(
                self.database_url, "SELECT id FROM escalation.notification WHERE id = $1", notification["id"]))


async def test_notifications_are_sent_while_no_row_lock_is_held(escalation_db: Database, database_url: str) -> None:
    first = T0 + 2 * 366 * timedelta(days=1)  # later than anything else queued in this session
    inbox = Inbox(escalation_db)
    await inbox.created(first, level="L3")  # the crisis team: notified at once
    await inbox.project(ClockProjector(cursor=inbox.cursor))
    sink = LockProbeSink(database_url, inbox.ticket)
    sent = await NotificationDispatcher([sink]).dispatch_due(escalation_db, clock=ManualClock(first + timedelta(minutes=1)),
                                                             limit=100_000)
    assert sent >= 1 and sink.free_during_send and all(sink.free_during_send)
    async with escalation_db.engine.connect() as conn:
        statuses = (await conn.execute(text("SELECT status FROM escalation.notification WHERE ticket_id = :t"),
                                       {"t": inbox.ticket})).scalars().all()
    assert statuses and set(statuses) == {"sent"}


class LockProbeEscalation(escalation_pb2_grpc.EscalationServiceServicer):
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.free_during_send: dict[str, bool] = {}

    async def RaiseSignal(self, request: escalation_pb2.RaiseSignalRequest,
                          context: grpc.aio.ServicerContext) -> escalation_pb2.RaiseSignalResponse:
        self.free_during_send[request.signal_id] = await lockable(
            self.database_url, "SELECT signal_id FROM scoring.signal_outbox WHERE signal_id = $1", request.signal_id)
        return escalation_pb2.RaiseSignalResponse(accepted=True)


async def test_signals_are_sent_while_no_row_lock_is_held(scoring_db: Database, database_url: str) -> None:
    server = grpc.aio.server()
    probe = LockProbeEscalation(database_url)
    escalation_pb2_grpc.add_EscalationServiceServicer_to_server(probe, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        raised = signals.Signal.of(f"c-{uuid.uuid4().hex}", "legal", "我要起诉", 0)
        async with scoring_db.session() as session:
            await signals.enqueue(session, [raised], ticket_id=f"t-{uuid.uuid4().hex}", conversation_id="c",
                                  now=datetime.now(UTC) - timedelta(seconds=1))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            relay = signals.SignalRelay(scoring_db, escalation_pb2_grpc.EscalationServiceStub(channel), SystemClock(),
                                        batch=1000)
            await relay.run_once()
    finally:
        await server.stop(None)
    assert probe.free_during_send.get(raised.signal_id) is True
    async with scoring_db.engine.connect() as conn:
        status = await conn.scalar(text("SELECT status FROM scoring.signal_outbox WHERE signal_id = :s"),
                                   {"s": raised.signal_id})
    assert status == "delivered"
