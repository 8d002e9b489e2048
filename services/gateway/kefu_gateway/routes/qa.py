from __future__ import annotations

from fastapi import APIRouter, status

from kefu.scoring.v1 import scoring_pb2
from kefu_common.protoconv import str_to_enum
from kefu_gateway.auth import Staff
from kefu_gateway.clients import ClientsDep
from kefu_gateway.deps import IdempotencyKey, request_id_for
from kefu_gateway.problems import problem_responses
from kefu_gateway.schemas import EvaluationCreate, EvaluationPublic

router = APIRouter(prefix="/v1/qa", tags=["quality"])


def evaluation_public(e: scoring_pb2.Evaluation) -> EvaluationPublic:
    return EvaluationPublic.model_validate(
        {
            "id": e.id,
            "conversation_id": e.conversation_id,
            "ticket_id": e.ticket_id,
            "agent_id": e.agent_id,
            "ruleset_id": e.ruleset_id,
            "ruleset_version": e.ruleset_version,
            "total_score": e.total_score,
            "grade": e.grade,
            "hits": [
                {
                    "rule_id": h.rule_id,
                    "rule_version": h.rule_version,
                    "dimension": h.dimension,
                    "turn_index": h.turn_index,
                    "start": h.start,
                    "end": h.end,
                    "matched_text": h.matched_text,
                    "points": h.points,
                }
                for h in e.hits
            ],
            "created_at": e.created_at.ToJsonString(),
        }
    )


@router.post(
    "/evaluations",
    status_code=status.HTTP_201_CREATED,
    operation_id="createEvaluation",
    summary="Score a conversation against the active ruleset",
    response_model=EvaluationPublic,
    responses=problem_responses(400, 401, 403, 409, 413, 422, 503, 504),
)
async def create_evaluation(
    body: EvaluationCreate,
    principal: Staff,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> EvaluationPublic:
    request = scoring_pb2.ScoreConversationRequest(
        request_id=request_id_for(principal, idempotency_key),
        conversation_id=body.conversation_id,
        ticket_id=body.ticket_id,
        agent_id=body.agent_id,
        turns=[
            scoring_pb2.Turn(
                role=str_to_enum(scoring_pb2.Role, t.role),
                text=t.text,
                start_ms=t.start_ms or 0,
                end_ms=t.end_ms or 0,
            )
            for t in body.turns
        ],
    )
    evaluation = await clients.scoring.ScoreConversation(request, timeout=clients.timeout)
    return evaluation_public(evaluation)


