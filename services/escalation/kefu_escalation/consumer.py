"""Consumes the ticketing event stream into the escalation inbox, exactly once.

Each event is stored and the cursor advanced in ONE transaction, so after a crash the
consumer resumes from the last event it durably stored: nothing is lost (the stream replays
from the cursor) and nothing is stored twice (the cursor moved with the row; the primary key
on the sequence is a second guard). The ticketing service may be down or restarting: the
consumer retries with capped backoff and never blocks this service's own RPCs.

Replicas: one consumer per cursor name follows the stream at a time, the holder of an
advisory lock (kefu_common.leader); the others stand by and try every `standby_seconds`, so
N replicas do not read and store the stream N times, and a killed leader's lock goes with its
connection: a standby resumes from the cursor. Two at once (a lock connection lost unnoticed)
would still store each event once, by the atomic cursor and the sequence's primary key.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import grpc
from sqlalchemy import text

from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
from kefu_common.clock import Clock
from kefu_common.db import Database, driver_connection
from kefu_common.leader import leadership, lock_key
from kefu_common.logging import get_logger
from kefu_common.metrics import CONSUMER_LAST_SEQUENCE
from kefu_common.protoconv import from_timestamp
from kefu_common.tasks import BackgroundLoop
from kefu_escalation import cursors

log = get_logger("kefu.escalation.consumer")

CURSOR_NAME = "ticketing-events"
RETRY_MIN_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
STANDBY_SECONDS = 2.0  # how often a standby replica tries to take the lead


_STORE = """INSERT INTO escalation.ticket_event (sequence, event_id, event_type, ticket_id, body,
    occurred_at, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sequence) DO NOTHING RETURNING 1"""


class TicketEventConsumer:
    def __init__(
        self,
        db: Database,
        stub: ticketing_pb2_grpc.TicketingServiceStub,
        clock: Clock,
        *,
        name: str = CURSOR_NAME,
        on_stored: Callable[[], None] | None = None,
        standby_seconds: float = STANDBY_SECONDS,
    ) -> None:
        self.on_stored = on_stored
        self.db = db
        self.stub = stub
        self.clock = clock
        self.name = name
        self.standby_seconds = standby_seconds
        self.leading = False
        self.standing_by = asyncio.Event()  # set when another replica follows this cursor
        self._call: grpc.aio.UnaryStreamCall | None = None
        self._loop = BackgroundLoop("ticket-event-consumer", self.run)

    async def cursor(self) -> int:
        async with self.db.engine.connect() as conn:
            value = await conn.scalar(
                text("SELECT last_sequence FROM escalation.consumer_cursor WHERE name = :n"),
                {"n": self.name},
            )
        return int(value or 0)

    async def store(self, event: ticketing_pb2.Event) -> bool:
        """Store one event and advance the cursor atomically; False if it was already stored.
        The insert on the driver connection (this runs for every event); the cursor moves through
        its one writer, `cursors.advance`, in the same transaction."""
        async with self.db.session() as session:
            conn = await driver_connection(session)
            inserted = await conn.fetchval(
                _STORE,
                event.sequence, uuid.UUID(event.event_id), event.type, uuid.UUID(event.ticket_id),
                event.SerializeToString(),  # the typed event, as received
                from_timestamp(event.occurred_at), self.clock.now(),
            )
            await cursors.advance(session, self.name, event.sequence, self.clock.now())
        return inserted is not None

    async def run_once(self) -> None:
        """Follow the stream from the durable cursor until it ends or fails."""
        after = await self.cursor()
        self._call = self.stub.WatchEvents(ticketing_pb2.WatchEventsRequest(after_sequence=after))
        try:
            async for event in self._call:
                stored = await self.store(event)
                CONSUMER_LAST_SEQUENCE.set(event.sequence)
                if stored:
                    log.debug("ticket_event_stored", sequence=event.sequence, type=event.type)
                    if self.on_stored is not None:
                        self.on_stored()
        finally:
            self._call = None

    async def run(self) -> None:
        """Follow the stream while this replica leads its cursor; stand by while another does."""
        delay = RETRY_MIN_SECONDS
        while True:
            try:
                async with leadership(self.db, lock_key("kefu-escalation-consumer", self.name)) as leading:
                    if not leading:
                        self.standing_by.set()
                        await asyncio.sleep(self.standby_seconds)
                        continue
                    self.leading = True
                    try:
                        await self.run_once()
                    finally:
                        self.leading = False
                delay = RETRY_MIN_SECONDS
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as err:
                log.info("ticket_events_disconnected", status=err.code().name, retry_in=delay)
            except Exception:
                log.exception("ticket_events_failed", retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        if self._call is not None:
            self._call.cancel()
        await self._loop.stop()
