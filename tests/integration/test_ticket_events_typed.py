"""Every ticket change leaves ticketing as its own typed message (issue #15): one ticket taken
through every RPC that writes an event, read back from WatchEvents over a real stub."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sqlalchemy import text

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
from kefu_common.db import Database
from kefu_common.protoconv import from_timestamp, to_timestamp
from kefu_common.ticket_events import EVENT_TYPES, event_type, from_json, to_json

T = ticketing_pb2


@pytest.fixture(scope="module")
async def stub(ticketing_addr: str):
    async with grpc.aio.insecure_channel(ticketing_addr) as channel:
        yield ticketing_pb2_grpc.TicketingServiceStub(channel)


async def last_sequence(database_url: str) -> int:
    db = Database(database_url, schema="ticketing", pool_size=1)
    try:
        async with db.engine.connect() as conn:
            return int(await conn.scalar(text("SELECT coalesce(max(sequence), 0) FROM ticketing.outbox_event")))
    finally:
        await db.dispose()


def rid() -> str:
    return uuid.uuid4().hex


async def test_every_change_of_a_ticket_is_one_typed_event_in_order(stub, database_url: str) -> None:
    after = await last_sequence(database_url)
    first_contact = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    promised = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=4)
    agent = f"a-{uuid.uuid4().hex[:8]}"
    await stub.UpsertAgent(T.UpsertAgentRequest(agent=T.Agent(id=agent, name="Li", team="care", skill_level=3,
                                                               active=True)))
    customer = f"C-{uuid.uuid4().hex[:8]}"
    ticket = await stub.CreateTicket(T.CreateTicketRequest(
        request_id=rid(), customer=T.Customer(id=customer, name="王女士", tier=types_pb2.CUSTOMER_TIER_VIP),
        channel=types_pb2.CHANNEL_PHONE, severity=types_pb2.SEVERITY_NORMAL, category="quality",
        subject="电视开机黑屏", first_contact_at=to_timestamp(first_contact), team="care"))
    tid = ticket.id
    await stub.UpdateTicket(T.UpdateTicketRequest(request_id=rid(), id=tid, severity=types_pb2.SEVERITY_HIGH,
                                                  set_tags=True, tags=["tv"], actor=agent))
    await stub.AssignTicket(T.AssignTicketRequest(request_id=rid(), id=tid, assignee_id=agent, actor="lead"))
    await stub.TransitionTicket(T.TransitionTicketRequest(request_id=rid(), id=tid, action=T.TRANSITION_ACTION_OPEN))
    await stub.LogContact(T.LogContactRequest(request_id=rid(), ticket_id=tid, direction=T.CONTACT_DIRECTION_OUTBOUND,
                                              channel=types_pb2.CHANNEL_PHONE, summary="called back", actor=agent))
    await stub.AddProgress(T.AddProgressRequest(request_id=rid(), ticket_id=tid, text="checking",
                                                promised_at=to_timestamp(promised), actor=agent))
    await stub.RecordProgressView(T.RecordProgressViewRequest(request_id=rid(), ticket_id=tid, viewer="app"))
    await stub.TransitionTicket(T.TransitionTicketRequest(request_id=rid(), id=tid, action=T.TRANSITION_ACTION_RESOLVE))
    await stub.RateTicket(T.RateTicketRequest(request_id=rid(), ticket_id=tid, score=2, source="customer",
                                              rater=f"customer:{customer}"))
    reopened = await stub.ReopenTicket(T.ReopenTicketRequest(
        request_id=rid(), id=tid, reason="still black", contact_channel=types_pb2.CHANNEL_APP, actor=agent))

    events: list[T.Event] = []
    stream = stub.WatchEvents(T.WatchEventsRequest(after_sequence=after))
    async with asyncio.timeout(20):
        async for event in stream:
            if event.ticket_id == tid:
                events.append(event)
                if len(events) == 11:
                    break
    stream.cancel()

    assert [e.WhichOneof("change") for e in events] == [
        "created", "updated", "assigned", "status_changed", "contact_logged", "progress_added",
        "progress_viewed", "status_changed", "rated", "status_changed", "contact_logged"]
    assert {e.WhichOneof("change") for e in events} == set(EVENT_TYPES.values())
    for e in events:
        assert e.type == event_type(e)
        body = T.Event()
        body.CopyFrom(e)
        for envelope in ("sequence", "event_id", "type", "occurred_at"):
            body.ClearField(envelope)
        assert from_json(e.type, to_json(e)) == body  # the documented JSON form loses nothing
    created, updated, assigned = events[0].created, events[1].updated, events[2].assigned
    assert from_timestamp(created.first_contact_at) == first_contact
    assert created.customer_tier == types_pb2.CUSTOMER_TIER_VIP and created.team == "care"
    assert created.sla == ticket.sla  # the one SLA snapshot: what the ticket holds
    assert created.created_by == ticket.created_by == "system"  # webhooks learn the creator here
    assert updated.changes.severity == types_pb2.SEVERITY_HIGH and list(updated.changes.tags.values) == ["tv"]
    assert not updated.changes.HasField("subject")
    assert updated.classification.severity == types_pb2.SEVERITY_HIGH
    assert assigned.assignee_id == agent
    assert events[4].contact_logged.direction == T.CONTACT_DIRECTION_OUTBOUND
    assert from_timestamp(events[5].progress_added.promised_at) == promised
    assert events[6].progress_viewed.view_count == 1
    assert events[7].status_changed.action == T.STATUS_ACTION_RESOLVED
    assert not events[7].status_changed.HasField("reopen_count")
    assert events[8].rated.score == 2 and events[8].rated.dissatisfied and not events[8].rated.HasField("nps")
    reopen = events[9].status_changed
    assert (reopen.action, reopen.from_status, reopen.reopen_count) == (
        T.STATUS_ACTION_REOPENED, T.TICKET_STATUS_RESOLVED, 1)
    assert events[10].contact_logged.direction == T.CONTACT_DIRECTION_INBOUND  # the reopen's contact
    assert events[-1].version == reopened.version and events[-1].status == T.TICKET_STATUS_REOPENED
