"""Review (复核): QA confirms or overturns hits; the final score follows, the trail is kept,
and AI-human agreement is reported per rule."""

from __future__ import annotations

import uuid

import grpc
import pytest

from kefu.scoring.v1 import scoring_pb2, scoring_pb2_grpc
from support import error_code

AGENT = scoring_pb2.ROLE_AGENT


async def scored(stub: scoring_pb2_grpc.ScoringServiceStub, *texts: str) -> scoring_pb2.Evaluation:
    return await stub.ScoreConversation(
        scoring_pb2.ScoreConversationRequest(
            request_id=uuid.uuid4().hex,
            turns=[scoring_pb2.Turn(role=AGENT, text=t) for t in texts],
        )
    )


def index_of(evaluation: scoring_pb2.Evaluation, rule_id: str) -> int:
    return next(i for i, h in enumerate(evaluation.hits) if h.rule_id == rule_id)


async def review(
    stub: scoring_pb2_grpc.ScoringServiceStub, evaluation_id: str, hit_index: int, decision: str
) -> scoring_pb2.Evaluation:
    return await stub.ReviewHit(
        scoring_pb2.ReviewHitRequest(
            evaluation_id=evaluation_id, hit_index=hit_index, decision=decision,
            reviewer="qa-7", note="listened to the call",
        )
    )


async def test_overturned_hit_no_longer_counts_in_the_final_score_and_the_trail_is_kept(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    evaluation = await scored(scoring_stub, "您好", "这个我不知道")
    assert (evaluation.final_score, evaluation.final_grade) == (evaluation.total_score, evaluation.grade)
    hit = index_of(evaluation, "forbidden-dead-end")

    confirmed = await review(scoring_stub, evaluation.id, hit, "confirmed")
    assert confirmed.final_score == evaluation.total_score
    assert confirmed.hits[hit].review == "confirmed"

    overturned = await review(scoring_stub, evaluation.id, hit, "overturned")
    assert overturned.total_score == evaluation.total_score  # the AI score is kept
    assert overturned.final_score > evaluation.total_score
    assert overturned.hits[hit].review == "overturned"
    assert [(r.hit_index, r.decision, r.reviewer) for r in overturned.reviews] == [
        (hit, "confirmed", "qa-7"),
        (hit, "overturned", "qa-7"),
    ]
    fetched = await scoring_stub.GetEvaluation(scoring_pb2.GetEvaluationRequest(id=evaluation.id))
    assert fetched.final_score == overturned.final_score


async def test_overturning_a_fatal_hit_restores_the_total(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    evaluation = await scored(scoring_stub, "您好", "你这个白痴")
    assert (evaluation.total_score, evaluation.fatal) == (0.0, True)
    overturned = await review(scoring_stub, evaluation.id, index_of(evaluation, "agent-abuse"), "overturned")
    # Nothing else hit: every dimension at full points.
    assert [h.rule_id for h in evaluation.hits if h.rule_id != "agent-abuse"] == []
    assert (overturned.final_score, overturned.final_grade) == (100.0, "A")


async def test_agreement_per_rule_counts_the_latest_decisions(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    async def agreement() -> dict[str, scoring_pb2.ReviewAgreement.Rule]:
        reply = await scoring_stub.GetReviewAgreement(scoring_pb2.GetReviewAgreementRequest(ruleset_id="default"))
        return {r.rule_id: r for r in reply.rules}

    before = (await agreement()).get("shirking")
    reviewed_before = before.reviewed if before else 0
    confirmed_before = before.confirmed if before else 0
    a = await scored(scoring_stub, "您好", "不归我管")
    b = await scored(scoring_stub, "您好", "随便你")
    await review(scoring_stub, a.id, index_of(a, "shirking"), "overturned")
    await review(scoring_stub, a.id, index_of(a, "shirking"), "confirmed")  # changed its mind
    await review(scoring_stub, b.id, index_of(b, "shirking"), "overturned")

    after = (await agreement())["shirking"]
    assert after.reviewed - reviewed_before == 2
    assert after.confirmed - confirmed_before == 1
    assert 0 <= after.agreement <= 1
    assert after.agreement == pytest.approx(after.confirmed / after.reviewed, abs=1e-4)
    # Rule quality (issue #16): the hit rate stands beside the agreement.
    assert after.evaluations_hit >= 2 and after.evaluations >= after.evaluations_hit
    assert after.hit_rate == pytest.approx(after.evaluations_hit / after.evaluations, abs=1e-4)
    greeted = (await agreement()).get("greeting-required")
    assert greeted is None or greeted.hit_rate < 1  # "您好" was said: rules that did not hit are not inflated


@pytest.mark.parametrize(
    ("hit_index", "decision", "code"),
    [(99, "confirmed", "invalid_hit_index"), (0, "maybe", "invalid_decision")],
)
async def test_bad_review_is_invalid_argument_and_writes_nothing(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub, hit_index: int, decision: str, code: str
) -> None:
    evaluation = await scored(scoring_stub, "不知道")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await review(scoring_stub, evaluation.id, hit_index, decision)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(raised.value) == code
    fetched = await scoring_stub.GetEvaluation(scoring_pb2.GetEvaluationRequest(id=evaluation.id))
    assert list(fetched.reviews) == []


async def test_reviewing_an_unknown_evaluation_is_not_found(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await review(scoring_stub, str(uuid.uuid4()), 0, "confirmed")
    assert error_code(raised.value) == "evaluation_not_found"


# --- appeals (申诉) ---------------------------------------------------------------------------


async def agents_evaluation(stub: scoring_pb2_grpc.ScoringServiceStub, agent_id: str) -> scoring_pb2.Evaluation:
    return await stub.ScoreConversation(
        scoring_pb2.ScoreConversationRequest(
            request_id=uuid.uuid4().hex, agent_id=agent_id,
            turns=[scoring_pb2.Turn(role=AGENT, text="您好，这个我不知道")],
        )
    )


async def appeal(stub: scoring_pb2_grpc.ScoringServiceStub, evaluation_id: str, hit: int, who: str) -> scoring_pb2.Appeal:
    return await stub.FileAppeal(
        scoring_pb2.FileAppealRequest(
            evaluation_id=evaluation_id, hit_index=hit, appellant=who, reason="I said 不知道 then checked"
        )
    )


async def test_upheld_appeal_overturns_the_hit_and_raises_the_final_score(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    evaluation = await agents_evaluation(scoring_stub, "agent-42")
    hit = index_of(evaluation, "forbidden-dead-end")
    filed = await appeal(scoring_stub, evaluation.id, hit, "agent-42")
    assert (filed.status, filed.appellant, filed.hit_index) == ("open", "agent-42", hit)

    with pytest.raises(grpc.aio.AioRpcError) as twice:
        await appeal(scoring_stub, evaluation.id, hit, "agent-42")
    assert error_code(twice.value) == "appeal_already_open"

    decided = await scoring_stub.DecideAppeal(
        scoring_pb2.DecideAppealRequest(appeal_id=filed.id, outcome="upheld", decided_by="qa-1", note="fair")
    )
    assert (decided.status, decided.decided_by) == ("upheld", "qa-1")
    assert decided.HasField("decided_at")
    after = await scoring_stub.GetEvaluation(scoring_pb2.GetEvaluationRequest(id=evaluation.id))
    assert after.hits[hit].review == "overturned"
    assert after.final_score > after.total_score
    assert after.reviews[-1].note.startswith(f"appeal {filed.id} upheld")

    with pytest.raises(grpc.aio.AioRpcError) as again:
        await scoring_stub.DecideAppeal(
            scoring_pb2.DecideAppealRequest(appeal_id=filed.id, outcome="rejected", decided_by="qa-2")
        )
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_code(again.value) == "appeal_already_decided"


async def test_rejected_appeal_confirms_the_hit(scoring_stub: scoring_pb2_grpc.ScoringServiceStub) -> None:
    evaluation = await agents_evaluation(scoring_stub, "agent-43")
    hit = index_of(evaluation, "forbidden-dead-end")
    filed = await appeal(scoring_stub, evaluation.id, hit, "agent-43")
    await scoring_stub.DecideAppeal(
        scoring_pb2.DecideAppealRequest(appeal_id=filed.id, outcome="rejected", decided_by="qa-1")
    )
    after = await scoring_stub.GetEvaluation(scoring_pb2.GetEvaluationRequest(id=evaluation.id))
    assert after.hits[hit].review == "confirmed"
    assert after.final_score == after.total_score


async def test_only_the_evaluated_agent_may_appeal(scoring_stub: scoring_pb2_grpc.ScoringServiceStub) -> None:
    evaluation = await agents_evaluation(scoring_stub, "agent-44")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await appeal(scoring_stub, evaluation.id, 0, "agent-99")
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_code(raised.value) == "not_your_evaluation"


@pytest.mark.parametrize(
    ("appeal_id", "code"), [("nope", "invalid_appeal_id"), (str(uuid.uuid4()), "appeal_not_found")]
)
async def test_deciding_an_unknown_appeal_is_a_clear_error(
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub, appeal_id: str, code: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await scoring_stub.DecideAppeal(
            scoring_pb2.DecideAppealRequest(appeal_id=appeal_id, outcome="upheld", decided_by="qa-1")
        )
    assert error_code(raised.value) == code
