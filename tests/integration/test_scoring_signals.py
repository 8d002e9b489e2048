"""Risk signals: written to the outbox in the evaluation's own transaction, delivered by the
relay to escalation's RaiseSignal with retries, never twice under the same id.

The last test runs the whole path over the real services (scoring relay -> escalation
RaiseSignal -> an escalation row). `RecordingEscalation` below stands in for escalation only
where a test needs it to *fail on demand* (UNAVAILABLE, INVALID_ARGUMENT) to check the relay's
retries and backoff: the real service cannot be made to fail at a chosen call.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sqlalchemy import text
from sqlmodel import col, select

from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kefu_common.clock import ManualClock
from kefu_common.db import Database
from kefu_scoring import service
from kefu_scoring.models import Evaluation, SignalOutbox
from kefu_scoring.signals import SignalRelay, signal_id


class RecordingEscalation(escalation_pb2_grpc.EscalationServiceServicer):
    """Stand-in for EscalationService.RaiseSignal (see the module docstring)."""

    def __init__(self) -> None:
        self.calls: list[escalation_pb2.RaiseSignalRequest] = []
        self.fail_with: list[grpc.StatusCode] = []  # one status per upcoming call
        self.received = asyncio.Event()

    async def RaiseSignal(
        self, request: escalation_pb2.RaiseSignalRequest, context: grpc.aio.ServicerContext
    ) -> escalation_pb2.RaiseSignalResponse:
        self.calls.append(request)
        self.received.set()
        if self.fail_with:
            await context.abort(self.fail_with.pop(0), "stand-in failure")
        seen = [c for c in self.calls[:-1] if c.signal_id == request.signal_id]
        return escalation_pb2.RaiseSignalResponse(accepted=not seen, note="recorded by the stand-in")


@pytest.fixture
async def escalation() -> AsyncIterator[tuple[RecordingEscalation, str]]:
    server = grpc.aio.server()
    servicer = RecordingEscalation()
    escalation_pb2_grpc.add_EscalationServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, f"127.0.0.1:{port}"
    await server.stop(None)


def risky(ticket_id: str, conversation_id: str) -> service.Conversation:
    return service.Conversation(
        request_id=f"req-{uuid.uuid4().hex}",
        conversation_id=conversation_id,
        ticket_id=ticket_id,
        turns=(
            service.Turn("customer", "你们再不退款我就找律师起诉，气死我了！电话13800138000"),  # legal + strong emotion (气死: not only risk words)
            service.Turn("agent", "您好，非常抱歉，我马上为您处理"),
        ),
    )


async def outbox(db: Database, ticket_id: str) -> list[SignalOutbox]:
    async with db.session() as session:
        stmt = select(SignalOutbox).where(col(SignalOutbox.ticket_id) == ticket_id)
        return list((await session.exec(stmt)).all())


async def score(db: Database, conversation: service.Conversation, clock: ManualClock) -> Evaluation:
    async with db.session() as session:
        return await service.score_conversation(
            session, ruleset=service.load_ruleset(), conversation=conversation, clock=clock
        )


def kind_name(kind: int) -> str:
    """The outbox row's spelling of a request's SignalKind."""
    return escalation_pb2.SignalKind.Name(kind).removeprefix("SIGNAL_KIND_").lower()


def calls_for(servicer: RecordingEscalation, ticket_id: str) -> list[escalation_pb2.RaiseSignalRequest]:
    return [c for c in servicer.calls if c.ticket_id == ticket_id]


async def test_signal_is_queued_in_the_evaluation_transaction_with_masked_detail(scoring_db: Database) -> None:
    ticket_id, conversation_id = f"t-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
    clock = ManualClock(datetime(2031, 1, 1, tzinfo=UTC))
    evaluation = await score(scoring_db, risky(ticket_id, conversation_id), clock)

    rows = {r.kind: r for r in await outbox(scoring_db, ticket_id)}
    assert sorted(rows) == sorted(evaluation.risk_flags) == ["legal", "negative_emotion", "predicted_detractor"]
    row = rows["legal"]
    assert row.signal_id == signal_id(conversation_id, "legal")
    assert sorted(evaluation.signal_ids) == sorted(r.signal_id for r in rows.values())
    assert (row.status, row.attempts, row.conversation_id) == ("pending", 0, conversation_id)
    assert row.occurred_at == clock.now()
    assert "律师" in row.detail and "13800138000" not in row.detail
    assert "legal threat (action" in row.detail  # why it is a threat, for the escalation party
    assert "13800138000" not in rows["negative_emotion"].detail
    # What is stored is masked too.
    assert "13800138000" not in str(evaluation.turns)
    assert "138****8000" in evaluation.turns[0]["text"]


async def test_rolled_back_evaluation_leaves_no_signal(scoring_db: Database) -> None:
    ticket_id = f"t-{uuid.uuid4().hex}"
    clock = ManualClock(datetime(2031, 1, 1, tzinfo=UTC))
    with pytest.raises(RuntimeError):
        async with scoring_db.session() as session:
            await service.score_conversation(
                session, ruleset=service.load_ruleset(), conversation=risky(ticket_id, "c-x"), clock=clock
            )
            raise RuntimeError("the transaction fails after the evaluation was flushed")
    assert await outbox(scoring_db, ticket_id) == []


async def test_same_risk_in_the_same_conversation_is_one_signal(scoring_db: Database) -> None:
    ticket_id, conversation_id = f"t-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
    clock = ManualClock(datetime(2031, 1, 1, tzinfo=UTC))
    first = await score(scoring_db, risky(ticket_id, conversation_id), clock)
    second = await score(scoring_db, risky(ticket_id, conversation_id), clock)  # another request id
    assert first.id != second.id
    assert first.signal_ids == second.signal_ids
    assert len(await outbox(scoring_db, ticket_id)) == len(first.signal_ids) == 3


async def test_relay_delivers_and_retries_with_backoff_without_doubling(
    scoring_db: Database, escalation: tuple[RecordingEscalation, str]
) -> None:
    servicer, addr = escalation
    ticket_id, conversation_id = f"t-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
    # The relay delivers every due row of the shared test database: these relay tests run
    # their clocks in the past, so only their own rows (and none left pending) are due.
    clock = ManualClock(datetime(2001, 6, 1, tzinfo=UTC))
    await score(scoring_db, risky(ticket_id, conversation_id), clock)

    async with grpc.aio.insecure_channel(addr) as channel:
        relay = SignalRelay(scoring_db, escalation_pb2_grpc.EscalationServiceStub(channel), clock)
        servicer.fail_with = [grpc.StatusCode.UNAVAILABLE]
        await relay.run_once()  # the first call fails, the second succeeds
        rows = {r.kind: r for r in await outbox(scoring_db, ticket_id)}
        first_kind = kind_name(calls_for(servicer, ticket_id)[0].kind)
        failed = rows[first_kind]
        assert (failed.status, failed.attempts) == ("pending", 1)
        assert failed.last_error.startswith("UNAVAILABLE")
        assert failed.next_attempt_at == clock.now() + timedelta(seconds=1)
        assert [r.status for k, r in rows.items() if k != first_kind] == ["delivered", "delivered"]

        await relay.run_once()  # not due yet: no call
        assert len(calls_for(servicer, ticket_id)) == 3

        clock.advance(timedelta(seconds=1))
        await relay.run_once()
        row = {r.kind: r for r in await outbox(scoring_db, ticket_id)}[first_kind]
        assert (row.status, row.attempts, row.delivered_at) == ("delivered", 2, clock.now())
        assert row.note == "recorded by the stand-in"

        clock.advance(timedelta(hours=1))
        await relay.run_once()  # delivered rows are never sent again

    calls = calls_for(servicer, ticket_id)
    assert len(calls) == 4
    assert [c.signal_id for c in calls].count(signal_id(conversation_id, first_kind)) == 2
    assert {c.signal_id for c in calls} == {
        signal_id(conversation_id, "legal"), signal_id(conversation_id, "negative_emotion"),
        signal_id(conversation_id, "predicted_detractor"),
    }
    request = [c for c in calls if c.kind == escalation_pb2.SIGNAL_KIND_LEGAL][-1]
    assert (request.source, request.conversation_id) == ("scoring", conversation_id)
    assert request.occurred_at.ToDatetime(tzinfo=UTC) == datetime(2001, 6, 1, tzinfo=UTC)
    assert "13800138000" not in request.detail


async def test_relay_marks_a_refused_signal_rejected_and_stops_retrying(
    scoring_db: Database, escalation: tuple[RecordingEscalation, str]
) -> None:
    servicer, addr = escalation
    ticket_id = f"t-{uuid.uuid4().hex}"
    clock = ManualClock(datetime(2000, 7, 1, tzinfo=UTC))  # in the past: see above
    await score(scoring_db, risky(ticket_id, f"c-{uuid.uuid4().hex}"), clock)
    async with grpc.aio.insecure_channel(addr) as channel:
        relay = SignalRelay(scoring_db, escalation_pb2_grpc.EscalationServiceStub(channel), clock)
        servicer.fail_with = [grpc.StatusCode.INVALID_ARGUMENT]
        await relay.run_once()
        clock.advance(timedelta(days=1))
        await relay.run_once()
    rows = {r.kind: r for r in await outbox(scoring_db, ticket_id)}
    refused = rows[kind_name(calls_for(servicer, ticket_id)[0].kind)]
    assert (refused.status, refused.attempts) == ("rejected", 1)
    assert refused.last_error.startswith("INVALID_ARGUMENT")
    assert len(calls_for(servicer, ticket_id)) == 3  # the refused one once, the others once


async def test_a_scored_risk_reaches_the_real_escalation_service_and_escalates_the_ticket(
    database_url: str, escalation_addr: str, scoring_db: Database
) -> None:
    """End to end over the real services: scoring (relay on) -> escalation RaiseSignal ->
    an escalation of the ticket's open cycle, straight to L3 for a media threat."""
    from escalation_support import Inbox, escalation_database
    from kefu_scoring.app import service as scoring_service
    from kefu_scoring.settings import ScoringSettings

    async with escalation_database(database_url) as escalation_db:
        inbox = Inbox(escalation_db)  # a ticket whose SLA clocks escalation knows
        await inbox.created(datetime.now(UTC))
        await inbox.project()
        settings = ScoringSettings(grpc_port=0, relay_signals=True, escalation_addr=escalation_addr,
                                   relay_interval_seconds=0.2)
        server = await scoring_service.create_server(settings, database_url)
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                reply = await scoring_pb2_grpc.ScoringServiceStub(channel).ScoreConversation(
                    scoring_pb2.ScoreConversationRequest(
                        request_id=f"req-{uuid.uuid4().hex}", conversation_id=f"c-{uuid.uuid4().hex}",
                        ticket_id=str(inbox.ticket),
                        turns=[scoring_pb2.Turn(role=scoring_pb2.ROLE_CUSTOMER, text="我要去媒体曝光你们，气死我了！")],
                    )
                )
            assert len(reply.signal_ids) == 3  # media, the strong negative emotion, the predicted detractor
            async with grpc.aio.insecure_channel(escalation_addr) as channel:
                stub = escalation_pb2_grpc.EscalationServiceStub(channel)
                for _ in range(100):  # the relay delivers after the commit; poll its effect
                    delivered = await outbox(scoring_db, str(inbox.ticket))
                    if {r.status for r in delivered} == {"delivered"}:
                        break
                    await asyncio.sleep(0.1)
                listed = await stub.ListEscalations(escalation_pb2.ListEscalationsRequest(ticket_id=str(inbox.ticket)))
        finally:
            await server.stop()
        async with escalation_db.engine.connect() as conn:
            received = dict((await conn.execute(text(
                "SELECT kind, status FROM escalation.risk_signal WHERE ticket_id = :t"), {"t": inbox.ticket})).all())
    assert received == {"media": "applied", "negative_emotion": "applied", "predicted_detractor": "applied"}  # once each
    by_key = {e.trigger_key: e for e in listed.escalations}
    media = by_key["risk_signal:media"]  # straight to L3 (the emotion signal adds +1 if it came first)
    assert (media.actor, media.to_level, media.to_party) == ("scoring", 4, "crisis_team")
