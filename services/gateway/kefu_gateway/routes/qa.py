from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from google.protobuf import json_format

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
        json_format.MessageToDict(
            e, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    )


EvaluationId = Annotated[str, Path(min_length=1, max_length=64, description="The evaluation's id")]


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




@router.get(
    "/evaluations/{evaluation_id}",
    operation_id="getEvaluation",
    summary="One stored evaluation: scorecard, hits with evidence, emotion, risk flags",
    response_model=EvaluationPublic,
    responses=problem_responses(400, 401, 403, 404, 503, 504),
)
async def get_evaluation(
    evaluation_id: EvaluationId, principal: Staff, clients: ClientsDep
) -> EvaluationPublic:
    evaluation = await clients.scoring.GetEvaluation(
        scoring_pb2.GetEvaluationRequest(id=evaluation_id), timeout=clients.timeout
    )
    return evaluation_public(evaluation)
