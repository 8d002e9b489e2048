"""The review queue (复核 / 申诉) over a real scoring server: listing evaluations with every
filter and a keyset cursor, listing appeals, and the sampling policy for human review."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

import grpc
import pytest

from kefu.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from kefu_common.protoconv import to_timestamp
from kefu_scoring.review_queue import sample_point
from support import error_code

AGENT, CUSTOMER = scoring_pb2.ROLE_AGENT, scoring_pb2.ROLE_CUSTOMER
PLAIN = [(AGENT, "您好，很高兴为您服务"), (CUSTOMER, "我的电视黑屏了"), (AGENT, "好的，马上为您处理，感谢来电，再见")]
FATAL = [(AGENT, "您好"), (AGENT, "你这个白痴")]
RISK = [(AGENT, "您好"), (CUSTOMER, "我要打12315投诉你们")]
SHIRK = [(AGENT, "您好"), (AGENT, "这个我不知道")]

Stub = scoring_pb2_grpc.ScoringServiceStub


async def score(stub: Stub, turns, *, team: str, agent: str = "agent-1", ticket: str = "") -> scoring_pb2.Evaluation:
    return await stub.ScoreConversation(
        scoring_pb2.ScoreConversationRequest(
            request_id=uuid.uuid4().hex, agent_id=agent, team=team, ticket_id=ticket,
            turns=[scoring_pb2.Turn(role=r, text=t) for r, t in turns],
        )
    )


async def listed(stub: Stub, page_size: int = 0, **filters) -> list[scoring_pb2.EvaluationSummary]:
    """Every page of the list, walked by the cursor."""
    items, token = [], ""
    while True:
        reply = await stub.ListEvaluations(
            scoring_pb2.ListEvaluationsRequest(
                filter=scoring_pb2.EvaluationFilter(**filters), page_size=page_size, page_token=token
            )
        )
        items += reply.evaluations
        token = reply.next_page_token
        if not token:
            return items


async def queue(stub: Stub, *, share: float, seed: str, page_size: int = 0, **filters) -> list[scoring_pb2.EvaluationSummary]:
    items, token = [], ""
    while True:
        reply = await stub.GetReviewQueue(
            scoring_pb2.GetReviewQueueRequest(
                filter=scoring_pb2.EvaluationFilter(**filters), share=share, seed=seed,
                page_size=page_size, page_token=token,
            )
        )
        items += reply.evaluations
        token = reply.next_page_token
        if not token:
            return items


def team() -> str:
    return f"team-{uuid.uuid4().hex[:10]}"


async def test_evaluations_are_listed_newest_first_as_summaries(scoring_stub: Stub) -> None:
    t = team()
    first = await score(scoring_stub, SHIRK, team=t, ticket="T-1")
    second = await score(scoring_stub, RISK, team=t, ticket="T-2")
    items = await listed(scoring_stub, team=t)
    assert [i.id for i in items] == [second.id, first.id]
    summary = items[1]
    assert (summary.ticket_id, summary.agent_id, summary.team) == ("T-1", "agent-1", t)
    assert (summary.total_score, summary.grade, summary.fatal) == (first.total_score, first.grade, False)
    assert summary.hit_count == len(first.hits) > 0
    assert list(items[0].risk_flags) == list(second.risk_flags) and "regulator" in items[0].risk_flags
    assert (summary.reviewed, summary.open_appeals) == (False, 0)


async def test_cursor_walks_every_evaluation_once_in_order(scoring_stub: Stub) -> None:
    t = team()
    made = [await score(scoring_stub, PLAIN, team=t) for _ in range(7)]
    walked = await listed(scoring_stub, page_size=3, team=t)
    assert [i.id for i in walked] == [e.id for e in reversed(made)]


async def test_filters_by_agent_grade_score_range_rule_and_fatal(scoring_stub: Stub) -> None:
    t = team()
    plain = await score(scoring_stub, PLAIN, team=t, agent="a-1")
    fatal = await score(scoring_stub, FATAL, team=t, agent="a-2")
    shirk = await score(scoring_stub, SHIRK, team=t, agent="a-1")
    ids = lambda items: {i.id for i in items}  # noqa: E731
    assert ids(await listed(scoring_stub, team=t, agent_id="a-1")) == {plain.id, shirk.id}
    assert ids(await listed(scoring_stub, team=t, fatal=True)) == {fatal.id}
    assert ids(await listed(scoring_stub, team=t, fatal=False)) == {plain.id, shirk.id}
    assert ids(await listed(scoring_stub, team=t, grades=[fatal.grade])) >= {fatal.id}
    assert ids(await listed(scoring_stub, team=t, max_score=0)) == {fatal.id}
    assert ids(await listed(scoring_stub, team=t, min_score=shirk.total_score, max_score=shirk.total_score)) >= {shirk.id}
    assert fatal.id not in ids(await listed(scoring_stub, team=t, min_score=1))
    assert ids(await listed(scoring_stub, team=t, rule_id="forbidden-phrases")) == {shirk.id}
    assert ids(await listed(scoring_stub, team=t, rule_id="agent-abuse")) == {fatal.id}
    assert ids(await listed(scoring_stub, team=t, ruleset_id=plain.ruleset_id,
                            ruleset_version=plain.ruleset_version)) == {plain.id, fatal.id, shirk.id}
    assert ids(await listed(scoring_stub, team=t, ruleset_id="no-such-ruleset")) == set()


async def test_period_filter_keeps_evaluations_inside_the_half_open_range(scoring_stub: Stub) -> None:
    t = team()
    made = await score(scoring_stub, PLAIN, team=t)
    at = made.created_at.ToDatetime(tzinfo=UTC)
    inside = await listed(scoring_stub, team=t, start=to_timestamp(at), end=to_timestamp(at + timedelta(seconds=1)))
    assert [i.id for i in inside] == [made.id]
    assert await listed(scoring_stub, team=t, start=to_timestamp(at - timedelta(days=1)), end=to_timestamp(at)) == []


async def test_reviewed_and_open_appeal_filters(scoring_stub: Stub) -> None:
    t = team()
    untouched = await score(scoring_stub, SHIRK, team=t, agent="agent-9")
    reviewed = await score(scoring_stub, SHIRK, team=t, agent="agent-9")
    appealed = await score(scoring_stub, SHIRK, team=t, agent="agent-9")
    await scoring_stub.ReviewHit(scoring_pb2.ReviewHitRequest(
        evaluation_id=reviewed.id, hit_index=0, decision="confirmed", reviewer="qa-1"))
    await scoring_stub.FileAppeal(scoring_pb2.FileAppealRequest(
        evaluation_id=appealed.id, hit_index=0, appellant="agent-9", reason="the customer asked me to"))
    ids = lambda items: {i.id for i in items}  # noqa: E731
    assert ids(await listed(scoring_stub, team=t, reviewed=True)) == {reviewed.id}
    assert ids(await listed(scoring_stub, team=t, reviewed=False)) == {untouched.id, appealed.id}
    assert ids(await listed(scoring_stub, team=t, open_appeal=True)) == {appealed.id}
    assert ids(await listed(scoring_stub, team=t, open_appeal=False)) == {untouched.id, reviewed.id}
    summary = {i.id: i for i in await listed(scoring_stub, team=t)}
    assert (summary[reviewed.id].reviewed, summary[reviewed.id].reviewed_hits) == (True, 1)
    assert summary[appealed.id].open_appeals == 1


async def test_appeals_are_listed_open_by_default_oldest_first_with_their_rule(scoring_stub: Stub) -> None:
    t = team()
    agent = f"agent-{uuid.uuid4().hex[:8]}"
    evaluations = [await score(scoring_stub, SHIRK, team=t, agent=agent, ticket=f"T-{i}") for i in range(3)]
    appeals = [
        await scoring_stub.FileAppeal(scoring_pb2.FileAppealRequest(
            evaluation_id=e.id, hit_index=0, appellant=agent, reason="not what I meant"))
        for e in evaluations
    ]
    await scoring_stub.DecideAppeal(scoring_pb2.DecideAppealRequest(
        appeal_id=appeals[1].id, outcome="upheld", decided_by="qa-1"))

    async def walk(status: str) -> list[scoring_pb2.AppealSummary]:
        items, token = [], ""
        while True:
            reply = await scoring_stub.ListAppeals(scoring_pb2.ListAppealsRequest(
                status=status, appellant=agent, page_size=1, page_token=token))
            items += reply.appeals
            token = reply.next_page_token
            if not token:
                return items

    open_ = await walk("")
    assert [a.appeal.id for a in open_] == [appeals[0].id, appeals[2].id]
    assert (open_[0].ticket_id, open_[0].agent_id, open_[0].team) == ("T-0", agent, t)
    assert open_[0].rule_id == evaluations[0].hits[0].rule_id
    assert [a.appeal.id for a in await walk("upheld")] == [appeals[1].id]
    assert [a.appeal.id for a in await walk("all")] == [a.id for a in appeals]


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (scoring_pb2.ListEvaluationsRequest(page_size=501), "invalid_page_size"),
        (scoring_pb2.ListEvaluationsRequest(page_token="not-a-cursor"), "invalid_page_token"),
        (scoring_pb2.ListEvaluationsRequest(filter=scoring_pb2.EvaluationFilter(grades=["E"])), "invalid_grade"),
        (scoring_pb2.ListEvaluationsRequest(filter=scoring_pb2.EvaluationFilter(min_score=80, max_score=60)),
         "invalid_score_range"),
    ],
)
async def test_bad_list_requests_are_invalid_argument(scoring_stub: Stub, request_, code: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await scoring_stub.ListEvaluations(request_)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(err.value) == code


# --- the sampling policy ---------------------------------------------------------------------


@pytest.fixture(scope="module")
async def corpus(scoring_addr: str) -> tuple[str, set[str], set[str], set[str]]:
    """A team's 300 clean evaluations, 6 fatal ones and 6 with a risk flag only."""
    t = team()
    async with grpc.aio.insecure_channel(scoring_addr) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        plain = {(await score(stub, PLAIN, team=t)).id for _ in range(300)}
        fatal = {(await score(stub, FATAL, team=t)).id for _ in range(6)}
        risk = {(await score(stub, RISK, team=t)).id for _ in range(6)}
    return t, plain, fatal, risk


async def test_sample_takes_the_configured_share_of_the_rest_within_tolerance(scoring_stub: Stub, corpus) -> None:
    t, plain, _, _ = corpus
    for share in (0.1, 0.3):
        sampled = [i for i in await queue(scoring_stub, share=share, seed="2026-12-03", team=t) if i.reason == "sampled"]
        # binomial(300, share): 4 standard deviations are at most 32 evaluations
        assert abs(len(sampled) - share * len(plain)) <= 4 * (len(plain) * share * (1 - share)) ** 0.5
        assert {i.id for i in sampled} <= plain


async def test_fatal_and_risk_evaluations_are_always_in_the_queue_first(scoring_stub: Stub, corpus) -> None:
    t, _, fatal, risk = corpus
    none_sampled = await queue(scoring_stub, share=0.0, seed="any", team=t)
    assert [i.reason for i in none_sampled] == ["fatal"] * 6 + ["risk"] * 6
    assert {i.id for i in none_sampled[:6]} == fatal and {i.id for i in none_sampled[6:]} == risk
    some = await queue(scoring_stub, share=0.2, seed="any", team=t)
    assert [i.reason for i in some[:12]] == ["fatal"] * 6 + ["risk"] * 6
    assert {i.reason for i in some[12:]} == {"sampled"}
    stamps = [i.created_at.ToDatetime() for i in some[12:]]
    assert stamps == sorted(stamps)  # oldest first within a tier


async def test_same_seed_gives_the_same_sample_and_another_seed_another(scoring_stub: Stub, corpus) -> None:
    t = corpus[0]
    first = [i.id for i in await queue(scoring_stub, share=0.2, seed="week-49", team=t)]
    paged = [i.id for i in await queue(scoring_stub, share=0.2, seed="week-49", team=t, page_size=7)]
    other = [i.id for i in await queue(scoring_stub, share=0.2, seed="week-50", team=t)]
    assert first == paged
    assert set(first[12:]) != set(other[12:])


async def test_sample_is_the_hash_of_seed_and_evaluation_id(scoring_stub: Stub, corpus) -> None:
    t, plain, _, _ = corpus
    sampled = {i.id for i in await queue(scoring_stub, share=0.25, seed="audit", team=t) if i.reason == "sampled"}
    assert sampled == {e for e in plain if sample_point("audit", e) < 0.25}


async def test_queue_leaves_out_reviewed_evaluations_unless_asked(scoring_stub: Stub) -> None:
    t = team()
    fatal = await score(scoring_stub, FATAL, team=t)
    await scoring_stub.ReviewHit(scoring_pb2.ReviewHitRequest(
        evaluation_id=fatal.id, hit_index=0, decision="confirmed", reviewer="qa-1"))
    assert await queue(scoring_stub, share=1.0, seed="s", team=t) == []
    assert [i.id for i in await queue(scoring_stub, share=1.0, seed="s", team=t, reviewed=True)] == [fatal.id]


async def test_share_outside_zero_to_one_is_invalid(scoring_stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await scoring_stub.GetReviewQueue(scoring_pb2.GetReviewQueueRequest(share=1.5, seed="s"))
    assert error_code(err.value) == "invalid_share"


def test_sample_point_is_uniform_enough_and_depends_on_the_seed() -> None:
    ids = [uuid.UUID(int=i) for i in range(2000)]
    points = [sample_point("s", i) for i in ids]
    assert all(0 <= p < 1 for p in points)
    assert abs(sum(p < 0.5 for p in points) - 1000) < 4 * (2000 * 0.25) ** 0.5
    assert [sample_point("s", i) for i in ids[:5]] != [sample_point("t", i) for i in ids[:5]]
