"""One risk in one conversation escalates the ticket's cycle once (issue #13): a customer's
threat is also a strongly negative turn and, at the end, a predicted detractor — three signal
kinds of one risk. Over the real escalation service's RaiseSignal."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest

from escalation_support import Inbox, escalation_database
from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu_common.protoconv import str_to_enum, to_timestamp


@pytest.fixture
async def stub(escalation_addr: str) -> AsyncIterator[escalation_pb2_grpc.EscalationServiceStub]:
    async with grpc.aio.insecure_channel(escalation_addr) as channel:
        yield escalation_pb2_grpc.EscalationServiceStub(channel)


async def ticket(database_url: str) -> str:
    async with escalation_database(database_url) as db:
        inbox = Inbox(db)
        await inbox.created(datetime.now(UTC))
        await inbox.project()
    return str(inbox.ticket)


async def raise_signals(stub: escalation_pb2_grpc.EscalationServiceStub, ticket_id: str, conversation_id: str,
                        *kinds: str) -> list[escalation_pb2.RaiseSignalResponse]:
    return [
        await stub.RaiseSignal(escalation_pb2.RaiseSignalRequest(
            signal_id=f"test-{uuid.uuid4().hex}", ticket_id=ticket_id,
            kind=str_to_enum(escalation_pb2.SignalKind, kind), source="scoring", detail=f"{kind} in turn 1", occurred_at=to_timestamp(datetime.now(UTC)), conversation_id=conversation_id))
        for kind in kinds
    ]


async def risk_escalations(stub: escalation_pb2_grpc.EscalationServiceStub, ticket_id: str) -> list[str]:
    listed = await stub.ListEscalations(escalation_pb2.ListEscalationsRequest(ticket_id=ticket_id))
    return sorted(e.trigger_key for e in listed.escalations if e.trigger == escalation_pb2.ESCALATION_TRIGGER_RISK_SIGNAL)


async def test_the_kinds_of_one_conversations_threat_escalate_once(database_url: str, stub) -> None:
    ticket_id = await ticket(database_url)
    replies = await raise_signals(stub, ticket_id, "call-1", "regulator", "negative_emotion", "predicted_detractor")
    assert await risk_escalations(stub, ticket_id) == ["risk_signal:regulator"]
    assert [r.accepted for r in replies] == [True, True, True]
    assert [r.note for r in replies[1:]] == ["same_conversation_escalated"] * 2


async def test_a_non_crisis_signal_after_one_of_the_same_conversation_escalates_no_further(
    database_url: str, stub
) -> None:
    ticket_id = await ticket(database_url)
    await raise_signals(stub, ticket_id, "call-1", "negative_emotion", "predicted_detractor", "abuse")
    assert await risk_escalations(stub, ticket_id) == ["risk_signal:negative_emotion"]


async def test_a_crisis_after_a_lesser_risk_of_the_same_conversation_still_reaches_the_crisis_team(
    database_url: str, stub
) -> None:
    ticket_id = await ticket(database_url)
    await raise_signals(stub, ticket_id, "call-1", "negative_emotion", "regulator", "media")
    assert await risk_escalations(stub, ticket_id) == ["risk_signal:negative_emotion", "risk_signal:regulator"]


async def test_the_same_threat_in_another_conversation_of_the_cycle_escalates_no_second_time(
    database_url: str, stub
) -> None:
    ticket_id = await ticket(database_url)
    await raise_signals(stub, ticket_id, "call-1", "regulator")
    await raise_signals(stub, ticket_id, "call-2", "regulator", "negative_emotion")
    assert await risk_escalations(stub, ticket_id) == ["risk_signal:regulator"]
