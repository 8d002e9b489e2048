"""Voice of customer: hot words and phrases per category/channel/period, spikes against the
trailing baseline, from the customers' (masked) words."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from sqlalchemy import text

from kefu.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kefu_common.db import Database
from kefu_common.protoconv import to_timestamp
from kefu_scoring.voc import terms
from support import error_code

NOW = datetime(2031, 3, 1, tzinfo=UTC)


def test_terms_are_content_words_with_their_negation_and_no_pii() -> None:
    assert terms("我买的电视不适合老人用，功能太多了，电话13800138000") == [
        "电视", "不适合", "老人", "功能", "太多", "电话"
    ]
    assert terms("The remote is BROKEN and the delivery was late") == ["remote", "broken", "delivery", "late"]


async def score(
    stub: scoring_pb2_grpc.ScoringServiceStub, category: str, channel: str, *customer: str
) -> str:
    reply = await stub.ScoreConversation(
        scoring_pb2.ScoreConversationRequest(
            request_id=uuid.uuid4().hex,
            category=category,
            channel=channel,
            turns=[scoring_pb2.Turn(role=scoring_pb2.ROLE_CUSTOMER, text=t) for t in customer]
            + [scoring_pb2.Turn(role=scoring_pb2.ROLE_AGENT, text="您好，我帮您查询")],
        )
    )
    return reply.id


async def backdate(db: Database, evaluation_id: str, when: datetime) -> None:
    # Test set-up only: the service stamps created_at with the database's now().
    async with db.session() as session:
        await session.exec(  # type: ignore[call-overload]
            text("UPDATE scoring.evaluation SET created_at = :t WHERE id = :id"),
            params={"t": when, "id": uuid.UUID(evaluation_id)},
        )


async def test_hot_words_and_a_spike_against_the_baseline(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub, scoring_db: Database
) -> None:
    category = f"tv-{uuid.uuid4().hex[:8]}"
    # Baseline (the 4 weeks before): logistics complaints, one about the remote.
    for i in range(6):
        eid = await score(scoring_stub, category, "phone", "物流太慢了，快递还没到")
        await backdate(scoring_db, eid, NOW - timedelta(days=10 + i))
    eid = await score(scoring_stub, category, "phone", "遥控器坏了")
    await backdate(scoring_db, eid, NOW - timedelta(days=20))
    # This week: the elderly cannot use it (a new reason), logistics as usual.
    for i in range(4):
        eid = await score(scoring_stub, category, "phone", "这个电视不适合老人，功能太多了")
        await backdate(scoring_db, eid, NOW - timedelta(days=1, hours=i))
    eid = await score(scoring_stub, category, "phone", "物流太慢")
    await backdate(scoring_db, eid, NOW - timedelta(days=2))
    eid = await score(scoring_stub, category, "chat", "不适合老人")  # another channel
    await backdate(scoring_db, eid, NOW - timedelta(days=2))

    reply = await scoring_stub.GetVoiceOfCustomer(
        scoring_pb2.GetVoiceOfCustomerRequest(
            start=to_timestamp(NOW - timedelta(days=7)), end=to_timestamp(NOW),
            baseline_days=28, category=category, channel="phone",
        )
    )
    assert (reply.conversations, reply.baseline_conversations) == (5, 7)
    words = {t.term: t for t in reply.terms}
    assert reply.terms[0].term == "不适合"
    assert (words["不适合"].conversations, words["不适合"].baseline_conversations) == (4, 0)
    assert words["不适合"].spike and words["老人"].spike
    assert not words["物流"].spike  # mentioned before as often: no spike
    assert words["物流"].baseline_conversations == 6
    phrases = {p.term for p in reply.phrases}
    assert "不适合 老人" in phrases


async def test_invalid_period_is_invalid_argument(scoring_stub: scoring_pb2_grpc.ScoringServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scoring_stub.GetVoiceOfCustomer(
            scoring_pb2.GetVoiceOfCustomerRequest(start=to_timestamp(NOW), end=to_timestamp(NOW))
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(raised.value) == "invalid_period"
