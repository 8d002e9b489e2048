"""The scoring service through a real gRPC stub, against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from support import error_code
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, text
from sqlmodel import col, select

from kefu.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kefu_common.clock import SystemClock
from kefu_common.db import Database
from kefu_scoring import service
from kefu_scoring.models import Evaluation

AGENT = scoring_pb2.ROLE_AGENT
CUSTOMER = scoring_pb2.ROLE_CUSTOMER


def new_request_id() -> str:
    return f"test-{uuid.uuid4().hex}"


def score_request(
    request_id: str, *turns: scoring_pb2.Turn
) -> scoring_pb2.ScoreConversationRequest:
    return scoring_pb2.ScoreConversationRequest(
        request_id=request_id,
        conversation_id="conv-1",
        ticket_id="ticket-1",
        agent_id="agent-7",
        turns=turns,
    )


def turn(role: int, text: str, start_ms: int = 0, end_ms: int = 0) -> scoring_pb2.Turn:
    return scoring_pb2.Turn(
        role=role,  # type: ignore[arg-type]
        text=text,
        start_ms=start_ms,
        end_ms=end_ms,
    )


async def stored(db: Database, request_id: str) -> list[Evaluation]:
    async with db.session() as session:
        stmt = select(Evaluation).where(col(Evaluation.request_id) == request_id)
        return list((await session.exec(stmt)).all())


async def test_evaluation_is_scored_stored_and_returned(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub, scoring_db: Database
) -> None:
    request_id = new_request_id()
    reply = await scoring_stub.ScoreConversation(
        score_request(
            request_id,
            turn(CUSTOMER, "我的退款呢? calm down 是什么意思", 0, 3_000),
            turn(AGENT, "这个我也不知道，你自己看吧", 3_500, 6_000),
        )
    )

    assert uuid.UUID(reply.id)
    assert (reply.conversation_id, reply.ticket_id, reply.agent_id) == (
        "conv-1",
        "ticket-1",
        "agent-7",
    )
    assert (reply.ruleset_id, reply.ruleset_version) == ("default", 2)
    # process 20 - 5 (no greeting) = 15, attitude 25 - 2 x 10 = 5: 75 of 100 points.
    assert (reply.total_score, reply.grade, reply.fatal) == (75.0, "C", False)
    assert [(h.rule_id, h.turn_index, h.start, h.end, h.matched_text, h.points) for h in reply.hits] == [
        ("greeting-required", 1, 0, 0, "", -5.0),
        ("forbidden-dead-end", 1, 4, 7, "不知道", -10.0),
        ("forbidden-phrases", 1, 8, 12, "你自己看", -10.0),
    ]
    assert {(h.rule_version, h.dimension, h.severity) for h in reply.hits[1:]} == {
        (1, "attitude", "major")
    }
    assert "expected and not found" in reply.hits[0].detail
    assert [(d.dimension, d.weight, d.score, d.applicable) for d in reply.dimensions] == [
        ("compliance", 40.0, 40.0, True),
        ("process", 20.0, 15.0, True),
        ("attitude", 25.0, 5.0, True),
        ("skill", 15.0, 15.0, True),
    ]
    assert set(reply.not_applicable) == {"closing-required"}
    assert reply.language == "zh"
    assert reply.HasField("created_at")

    [row] = await stored(scoring_db, request_id)
    assert str(row.id) == reply.id
    assert (row.total_score, row.grade, row.ruleset_id, row.ruleset_version) == (
        75.0,
        "C",
        "default",
        2,
    )
    assert [h["matched_text"] for h in row.hits] == ["", "不知道", "你自己看"]
    assert row.request_hash == service.request_hash(
        service.Conversation(
            request_id=request_id,
            conversation_id="conv-1",
            ticket_id="ticket-1",
            agent_id="agent-7",
            turns=(
                service.Turn("customer", "我的退款呢? calm down 是什么意思", 0, 3_000),
                service.Turn("agent", "这个我也不知道，你自己看吧", 3_500, 6_000),
            ),
        )
    )


async def test_retry_with_the_same_request_id_returns_the_stored_evaluation(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub, scoring_db: Database
) -> None:
    request = score_request(new_request_id(), turn(AGENT, "没办法"))
    first = await scoring_stub.ScoreConversation(request)
    again = await scoring_stub.ScoreConversation(request)

    assert again == first  # same id, same created_at, same hits
    assert len(await stored(scoring_db, request.request_id)) == 1


async def test_reused_request_id_with_a_different_body_is_already_exists(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub, scoring_db: Database
) -> None:
    request_id = new_request_id()
    first = await scoring_stub.ScoreConversation(score_request(request_id, turn(AGENT, "您好")))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scoring_stub.ScoreConversation(score_request(request_id, turn(AGENT, "不知道")))

    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_code(raised.value) == "idempotency_key_reused"
    assert request_id in (raised.value.details() or "")
    [row] = await stored(scoring_db, request_id)
    assert (str(row.id), row.total_score, row.hits) == (first.id, 100.0, [])


@pytest.mark.parametrize(
    ("turns", "code", "message"),
    [
        ([], "no_turns", "turns must hold at least one turn"),
        (
            [turn(CUSTOMER, "a"), turn(AGENT, "b"), turn(CUSTOMER, "c"), turn(0, "d")],
            "invalid_role",
            "turns[3].role is required",
        ),
        ([turn(AGENT, "x" * 10_001)], "turn_too_long", "turns[0].text is 10001 characters"),
        ([turn(AGENT, "hi")] * 2_001, "too_many_turns", "turns holds 2001 turns"),
        (
            [turn(AGENT, "hi", start_ms=9_000, end_ms=8_000)],
            "invalid_turn_offsets",
            "turns[0].end_ms (8000) is before start_ms (9000)",
        ),
    ],
)
async def test_invalid_conversation_is_invalid_argument_and_nothing_is_written(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
    scoring_db: Database,
    turns: list[scoring_pb2.Turn],
    code: str,
    message: str,
) -> None:
    request_id = new_request_id()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scoring_stub.ScoreConversation(score_request(request_id, *turns))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(raised.value) == code
    assert message in (raised.value.details() or "")
    assert await stored(scoring_db, request_id) == []


async def test_missing_request_id_is_invalid_argument_and_nothing_is_written(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub, scoring_db: Database
) -> None:
    async with scoring_db.session() as session:
        before = (await session.exec(select(func.count()).select_from(Evaluation))).one()

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scoring_stub.ScoreConversation(score_request("", turn(AGENT, "不知道")))

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(raised.value) == "invalid_request_id"
    assert "request_id is required" in (raised.value.details() or "")
    async with scoring_db.session() as session:
        after = (await session.exec(select(func.count()).select_from(Evaluation))).one()
    assert after == before


async def wait_for_insert_blocked_on_a_lock(db: Database, timeout: float = 10.0) -> None:
    """Until some backend's INSERT into scoring.evaluation waits on another transaction."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO scoring.evaluation%'"
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with db.engine.connect() as conn:
            if await conn.scalar(query):
                return
        await asyncio.sleep(0.02)
    raise AssertionError("the server's INSERT never waited on the open transaction")


async def test_concurrent_duplicate_request_returns_the_evaluation_committed_first(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub, scoring_db: Database
) -> None:
    request_id = new_request_id()
    conversation = service.Conversation(
        request_id=request_id,
        conversation_id="conv-1",
        ticket_id="ticket-1",
        agent_id="agent-7",
        turns=(service.Turn("agent", "不归我管"),),
    )
    # Another caller has inserted the same request_id but not committed yet: the server's
    # look-up misses it and its INSERT blocks on the unique index until we commit.
    async with scoring_db.session() as session:
        first = await service.score_conversation(
            session, ruleset=service.load_ruleset(), conversation=conversation, clock=SystemClock()
        )
        call = asyncio.ensure_future(
            scoring_stub.ScoreConversation(score_request(request_id, turn(AGENT, "不归我管")))
        )
        await wait_for_insert_blocked_on_a_lock(scoring_db)

    reply = await call
    assert reply.id == str(first.id)
    assert (reply.total_score, [h.matched_text for h in reply.hits]) == (
        first.total_score,
        ["", "不归我管"],  # no greeting, shirking
    )
    assert len(await stored(scoring_db, request_id)) == 1


async def test_health_check_reports_the_scoring_service_serving(scoring_addr: str) -> None:
    async with grpc.aio.insecure_channel(scoring_addr) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        reply = await health.Check(
            health_pb2.HealthCheckRequest(service="kefu.scoring.v1.ScoringService")
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_get_evaluation_returns_the_stored_scorecard(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    created = await scoring_stub.ScoreConversation(
        score_request(new_request_id(), turn(CUSTOMER, "太差了，我要投诉"), turn(AGENT, "没办法"))
    )
    fetched = await scoring_stub.GetEvaluation(scoring_pb2.GetEvaluationRequest(id=created.id))
    assert fetched == created
    assert [t.label for t in fetched.emotion.turns] == ["negative"]
    assert sorted(fetched.risk_flags) == ["negative_emotion", "other", "predicted_detractor"]
    assert fetched.signal_ids  # ticket-1 is set: the complaint was queued for escalation


@pytest.mark.parametrize(
    ("evaluation_id", "status", "code"),
    [
        ("not-a-uuid", grpc.StatusCode.INVALID_ARGUMENT, "invalid_evaluation_id"),
        (str(uuid.uuid4()), grpc.StatusCode.NOT_FOUND, "evaluation_not_found"),
    ],
)
async def test_get_unknown_evaluation_is_a_clear_error(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub, evaluation_id: str, status: grpc.StatusCode, code: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scoring_stub.GetEvaluation(scoring_pb2.GetEvaluationRequest(id=evaluation_id))
    assert raised.value.code() == status
    assert error_code(raised.value) == code
