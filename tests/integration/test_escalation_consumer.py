"""Escalation consumes the ticketing event stream exactly once (real gRPC + PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from sqlalchemy import text

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2 as pb
from kefu.ticketing.v1 import ticketing_pb2_grpc
from kefu_common.clock import SystemClock
from kefu_common.db import Database
from kefu_escalation.consumer import TicketEventConsumer

WAIT = 15.0


@pytest.fixture(scope="module")
async def channel(ticketing_addr: str):
    async with grpc.aio.insecure_channel(ticketing_addr) as ch:
        yield ch


@pytest.fixture(scope="module")
async def db(database_url: str):
    database = Database(database_url, schema="escalation", pool_size=2)
    yield database
    await database.dispose()


async def create(stub) -> str:
    ticket = await stub.CreateTicket(pb.CreateTicketRequest(
        request_id=uuid.uuid4().hex,
        customer=pb.Customer(id=f"C-{uuid.uuid4().hex[:8]}", tier=types_pb2.CUSTOMER_TIER_STANDARD),
        channel=types_pb2.CHANNEL_APP, severity=types_pb2.SEVERITY_LOW, category="other",
        subject="consumer test",
    ))
    return ticket.id


async def stored(db: Database, ticket_ids: list[str]) -> list[tuple[str, int]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT ticket_id::text, sequence FROM escalation.ticket_event "
                 "WHERE ticket_id = ANY(CAST(:ids AS uuid[])) ORDER BY sequence"),
            {"ids": ticket_ids},
        )
        return [(r[0], r[1]) for r in rows]


async def until_stored(db: Database, ticket_ids: list[str], count: int) -> list[tuple[str, int]]:
    async def poll() -> list[tuple[str, int]]:
        while len(rows := await stored(db, ticket_ids)) < count:
            await asyncio.sleep(0.05)
        return rows

    return await asyncio.wait_for(poll(), WAIT)


async def test_consumer_stores_every_event_once_across_a_restart(channel, db) -> None:
    stub = ticketing_pb2_grpc.TicketingServiceStub(channel)
    name = f"test-{uuid.uuid4().hex[:8]}"
    first = TicketEventConsumer(db, stub, SystemClock(), name=name)
    await first.start()
    early = [await create(stub) for _ in range(3)]
    await until_stored(db, early, 3)
    await first.stop()

    late = [await create(stub) for _ in range(3)]  # while no consumer runs
    second = TicketEventConsumer(db, stub, SystemClock(), name=name)
    await second.start()
    try:
        rows = await until_stored(db, early + late, 6)
    finally:
        await second.stop()
    assert [r[0] for r in rows] == early + late  # each once, in stream order
    assert await second.cursor() >= rows[-1][1]


async def test_storing_the_same_event_twice_keeps_one_row(channel, db) -> None:
    stub = ticketing_pb2_grpc.TicketingServiceStub(channel)
    ticket_id = await create(stub)
    consumer = TicketEventConsumer(db, stub, SystemClock(), name=f"test-{uuid.uuid4().hex[:8]}")
    call = stub.WatchEvents(pb.WatchEventsRequest(after_sequence=0))
    async for event in call:
        if event.ticket_id == ticket_id:
            break
    call.cancel()
    first = await consumer.store(event)
    again = await consumer.store(event)
    assert (first, again) in {(True, False), (False, False)}  # another consumer may have stored it
    assert len(await stored(db, [ticket_id])) == 1
    assert await consumer.cursor() == event.sequence


async def test_of_two_replicas_one_follows_the_stream_and_the_other_takes_over_when_it_goes(channel, db) -> None:
    stub = ticketing_pb2_grpc.TicketingServiceStub(channel)
    name = f"test-{uuid.uuid4().hex[:8]}"
    first = TicketEventConsumer(db, stub, SystemClock(), name=name, standby_seconds=0.1)
    second = TicketEventConsumer(db, stub, SystemClock(), name=name, standby_seconds=0.1)
    await first.start()
    try:
        early = [await create(stub) for _ in range(2)]
        await until_stored(db, early, 2)
        assert first.leading
        await second.start()
        await asyncio.wait_for(second.standing_by.wait(), WAIT)  # it found the cursor led
        assert not second.leading
        await first.stop()  # the leader goes away: its lock goes with it
        late = [await create(stub) for _ in range(2)]
        rows = await until_stored(db, early + late, 4)
        assert second.leading
    finally:
        await first.stop()
        await second.stop()
    assert [r[0] for r in rows] == early + late  # each once, in stream order
