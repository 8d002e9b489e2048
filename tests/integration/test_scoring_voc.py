"""Voice of customer: hot words and phrases per category/channel/period, spikes against the
trailing baseline, from the customers' (masked) words."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest

from kefu.common.v1 import types_pb2
from kefu.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kefu_common.db import Database
from kefu_scoring.models import Evaluation
from kefu_common.protoconv import str_to_enum, to_timestamp
from kefu_scoring.voc import terms
from support import error_code
from voc_corpus import LOGISTICS, TV, generate, truth_shares

NOW = datetime(2026, 3, 1, tzinfo=UTC)  # in the past: started_at may not be in the future
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_terms_are_content_words_with_their_negation_and_no_pii() -> None:
    assert terms("我买的电视不适合老人用，功能太多了，电话13800138000") == [
        "电视", "不适合", "老人", "功能", "太多", "电话"
    ]
    assert terms("The remote is BROKEN and the delivery was late") == ["remote", "broken", "delivery", "late"]


async def score(
    stub: scoring_pb2_grpc.ScoringServiceStub, category: str, channel: str, *customer: str,
    started_at: datetime | None = None, product: str = "",
) -> scoring_pb2.Evaluation:
    return await stub.ScoreConversation(
        scoring_pb2.ScoreConversationRequest(
            request_id=uuid.uuid4().hex,
            category=category,
            channel=channel,
            product=product,
            started_at=to_timestamp(started_at) if started_at else None,
            turns=[scoring_pb2.Turn(role=scoring_pb2.ROLE_CUSTOMER, text=t) for t in customer]
            + [scoring_pb2.Turn(role=scoring_pb2.ROLE_AGENT, text="您好，我帮您查询")],
        )
    )


async def test_hot_words_and_a_spike_against_the_baseline(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    category = f"tv-{uuid.uuid4().hex[:8]}"
    # Baseline (the 4 weeks before): logistics complaints, one about the remote.
    for i in range(6):
        await score(scoring_stub, category, "phone", "物流太慢了，快递还没到", started_at=NOW - timedelta(days=10 + i))
    await score(scoring_stub, category, "phone", "遥控器坏了", started_at=NOW - timedelta(days=20))
    # This week: the elderly cannot use it (a new reason), logistics as usual.
    for i in range(4):
        await score(
            scoring_stub, category, "phone", "这个电视不适合老人，功能太多了",
            started_at=NOW - timedelta(days=1, hours=i),
        )
    await score(scoring_stub, category, "phone", "物流太慢", started_at=NOW - timedelta(days=2))
    await score(scoring_stub, category, "chat", "不适合老人", started_at=NOW - timedelta(days=2))  # another channel

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


def voc_range(start: str, end: str, bucket: str = "none") -> types_pb2.ReportRange:
    return types_pb2.ReportRange(start=start, end=end, tz="Asia/Shanghai", bucket=bucket, compare_previous=True)


async def test_a_conversation_is_placed_by_when_it_happened_not_when_it_was_scored(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub, scoring_db: Database
) -> None:
    product = f"p-{uuid.uuid4().hex[:8]}"
    happened = datetime(2026, 9, 8, 1, 30, tzinfo=UTC)  # Tuesday 09:30 in Shanghai
    old = await score(scoring_stub, "product", "phone", "遥控器坏了", started_at=happened, product=product)
    await score(scoring_stub, "product", "phone", "遥控器坏了", product=product)  # happens now
    assert old.started_at.ToDatetime(tzinfo=UTC) == happened
    assert (old.product, old.category, old.channel) == (product, "product", "phone")
    async with scoring_db.session() as session:
        stored = await session.get(Evaluation, uuid.UUID(old.id))
        assert stored is not None and stored.started_at == happened
        assert stored.created_at is not None and stored.created_at > happened

    reply = await scoring_stub.GetVoiceOfCustomer(
        scoring_pb2.GetVoiceOfCustomerRequest(
            range=voc_range("2026-09-01", "2026-09-15", "week"), product=product, baseline_days=0
        )
    )
    (group,) = reply.groups
    assert group.conversations == 1  # the one scored now is not in September 2026
    # Buckets: Sep 1-7 (clipped), Sep 7-14, Sep 14-15 (clipped); it is in the second.
    assert list(group.bucket_conversations) == [0, 1, 0]


async def test_a_started_at_in_the_future_is_refused(scoring_stub: scoring_pb2_grpc.ScoringServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await score(scoring_stub, "", "", "遥控器坏了", started_at=datetime.now(UTC) + timedelta(days=3))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(raised.value) == "invalid_started_at"


async def test_a_baseline_before_the_calendar_is_invalid_argument(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scoring_stub.GetVoiceOfCustomer(
            scoring_pb2.GetVoiceOfCustomerRequest(range=voc_range("0002-01-01", "0002-01-08"), baseline_days=366)
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(raised.value) == "invalid_range"


async def test_three_months_of_tv_calls_give_the_true_top_reasons_per_month_without_boilerplate(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    product = f"tv-{uuid.uuid4().hex[:8]}"
    corpus = generate(TV, seed=21, n=600)
    truth = {c["conversation_id"]: c["truth"] for c in corpus}
    limit = asyncio.Semaphore(8)

    async def one(c: dict) -> None:
        async with limit:
            await scoring_stub.ScoreConversation(
                scoring_pb2.ScoreConversationRequest(
                    request_id=c["conversation_id"] + product, conversation_id=c["conversation_id"],
                    category=c["category"], channel=c["channel"], product=product,
                    started_at=to_timestamp(datetime.fromisoformat(c["started_at"])),
                    turns=[
                        scoring_pb2.Turn(role=str_to_enum(scoring_pb2.Role, t["role"]), text=t["text"],
                                         start_ms=t["start_ms"], end_ms=t["end_ms"])
                        for t in c["turns"]
                    ],
                )
            )

    await asyncio.gather(*(one(c) for c in corpus))
    reply = await scoring_stub.GetVoiceOfCustomer(
        scoring_pb2.GetVoiceOfCustomerRequest(
            range=voc_range("2026-09-01", "2026-11-30", "month"), product=product, baseline_days=28, examples=5
        )
    )
    (group,) = reply.groups
    assert group.conversations == 600
    assert list(group.bucket_conversations) == [
        sum(1 for c in corpus if datetime.fromisoformat(c["started_at"]).astimezone(SHANGHAI).month == m)
        for m in (9, 10, 11)
    ]
    shares = truth_shares(corpus)
    top = reply.reasons[:3]
    for reason in top:
        labels = {truth[q.conversation_id] for q in reason.examples}
        assert len(labels) == 1, reason.label  # every example quote is of one true reason
        (label,) = labels
        assert abs(reason.conversations / 600 - shares[label]) <= 0.05
        assert sum(b.conversations for b in reason.buckets) == reason.conversations
        assert all("138" not in q.text or "*" in q.text for q in reason.examples)
    assert {next(iter({truth[q.conversation_id] for q in r.examples})) for r in top} == set(list(shares)[:3])
    shared = {"上个月", "大屏", "新出", "智能", "电视", "那款"}
    assert shared <= set(group.boilerplate)
    for reason in reply.reasons:
        assert not {w for p in reason.phrases for w in p.split(" ")} & shared
    assert not {t.term for t in reply.terms} & shared


async def test_reasons_are_found_per_product_with_group_by(scoring_stub: scoring_pb2_grpc.ScoringServiceStub) -> None:
    tag = uuid.uuid4().hex[:8]
    corpora = {f"tv-{tag}": generate(TV, seed=22, n=250), f"logistics-{tag}": generate(LOGISTICS, seed=23, n=250)}
    truth = {}
    limit = asyncio.Semaphore(8)

    async def one(product: str, c: dict) -> None:
        async with limit:
            await scoring_stub.ScoreConversation(
                scoring_pb2.ScoreConversationRequest(
                    request_id=f"{product}-{c['conversation_id']}", conversation_id=c["conversation_id"],
                    category=tag, product=product,
                    started_at=to_timestamp(datetime.fromisoformat(c["started_at"])),
                    turns=[scoring_pb2.Turn(role=str_to_enum(scoring_pb2.Role, t["role"]), text=t["text"])
                           for t in c["turns"]],
                )
            )

    for product, corpus in corpora.items():
        truth.update({c["conversation_id"]: (product, c["truth"]) for c in corpus})
    await asyncio.gather(*(one(p, c) for p, corpus in corpora.items() for c in corpus))
    reply = await scoring_stub.GetVoiceOfCustomer(
        scoring_pb2.GetVoiceOfCustomerRequest(
            range=voc_range("2026-09-01", "2026-11-30"), category=tag, group_by="product", baseline_days=0,
            examples=3,
        )
    )
    assert sorted((g.group, g.conversations) for g in reply.groups) == sorted((p, 250) for p in corpora)
    for product, corpus in corpora.items():
        mine = [r for r in reply.reasons if r.group == product]
        assert [r.rank for r in mine] == list(range(1, len(mine) + 1))
        top = mine[0]
        assert {truth[q.conversation_id] for q in top.examples} == {(product, list(truth_shares(corpus))[0])}


async def test_a_streamed_conversation_keeps_the_time_it_happened_and_its_product(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    happened = datetime(2026, 10, 3, 6, 0, tzinfo=UTC)
    messages = [
        scoring_pb2.StreamRequest(
            start=scoring_pb2.StreamStart(
                conversation_id=f"conv-{uuid.uuid4().hex}", product="tv-x", started_at=to_timestamp(happened)
            )
        ),
        scoring_pb2.StreamRequest(turn=scoring_pb2.Turn(role=scoring_pb2.ROLE_CUSTOMER, text="遥控器坏了")),
        scoring_pb2.StreamRequest(end=scoring_pb2.StreamEnd()),
    ]
    events = [e async for e in scoring_stub.StreamConversation(iter(messages))]
    evaluation = events[-1].evaluation
    assert evaluation.started_at.ToDatetime(tzinfo=UTC) == happened
    assert evaluation.product == "tv-x"
