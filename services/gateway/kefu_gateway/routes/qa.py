from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, status
import grpc
from fastapi.responses import JSONResponse
from google.protobuf import json_format

from kefu.scoring.v1 import scoring_pb2
from kefu_common.errors import NotFound, PermissionDenied
from kefu_common.problem import problem_from_rpc_error
from kefu_common.protoconv import str_to_enum, to_timestamp
from kefu_gateway.auth import Principal, Staff
from kefu_gateway.clients import ClientsDep
from kefu_gateway.deps import IdempotencyKey, request_id_for
from kefu_gateway.idempotency import run_idempotent
from kefu_gateway.problems import problem_responses
from kefu_gateway.schemas import (
    AppealCreate,
    AppealDecision,
    AppealPublic,
    BatchItemError,
    EvaluationBatchCreate,
    EvaluationBatchItem,
    EvaluationBatchResult,
    EvaluationCreate,
    EvaluationPublic,
    HitReviewCreate,
    ReviewAgreementPublic,
    RulesetList,
    RulesetPublic,
)

router = APIRouter(prefix="/v1/qa", tags=["quality"])
BATCH_CONCURRENCY = 8  # ScoreConversation calls in flight per batch request


def _as_dict(message: Any) -> dict[str, Any]:
    """A reply as the JSON shape of the public schemas (field names as in the proto)."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def evaluation_public(e: scoring_pb2.Evaluation) -> EvaluationPublic:
    return EvaluationPublic.model_validate(
        _as_dict(e)
    )


EvaluationId = Annotated[str, Path(min_length=1, max_length=64, description="The evaluation's id")]


@router.post(
    "/evaluations",
    status_code=status.HTTP_201_CREATED,
    operation_id="createEvaluation",
    summary="Score a conversation against the active ruleset",
    response_model=EvaluationPublic,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422, 503, 504),
)
async def create_evaluation(
    body: EvaluationCreate,
    principal: Staff,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> EvaluationPublic:
    request = score_request(body, request_id_for(principal, idempotency_key))
    evaluation = await clients.scoring.ScoreConversation(request, timeout=clients.timeout)
    return evaluation_public(evaluation)


def score_request(body: EvaluationCreate, request_id: str) -> scoring_pb2.ScoreConversationRequest:
    return scoring_pb2.ScoreConversationRequest(
        request_id=request_id,
        ruleset_id=body.ruleset_id,
        ruleset_version=body.ruleset_version,
        category=body.category,
        channel=body.channel,
        team=body.team,
        product=body.product,
        started_at=to_timestamp(body.started_at) if body.started_at else None,
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


def conversation_request_id(principal: Principal, conversation_id: str) -> str:
    """The idempotency key of a batch item: its conversation, scoped to the caller (hashed
    when the two would not fit the key's 128 characters)."""
    key = f"{principal.actor}/conversation:{conversation_id}"
    if len(key) <= 128:
        return key
    digest = hashlib.sha256(conversation_id.encode()).hexdigest()[:40]
    return f"{principal.actor[:60]}/conversation#{digest}"


@router.post(
    "/evaluations:batch",
    operation_id="createEvaluationsBatch",
    summary="Score and store up to 500 conversations (imported history), idempotent per conversation",
    description="Each item is a conversation as for `createEvaluation`, with a required "
    "`conversation_id` (its idempotency key: sending the same conversation again returns "
    "the stored evaluation, a different body under the same id is refused for that item) and "
    "usually its `started_at`. Items are scored independently: one item's error does not "
    "stop the others; each result says `scored` or `refused` with the problem's code.",
    response_model=EvaluationBatchResult,
    responses=problem_responses(400, 401, 403, 413, 422, 503),
)
async def create_evaluations_batch(
    body: EvaluationBatchCreate, principal: Staff, clients: ClientsDep
) -> EvaluationBatchResult:
    limit = asyncio.Semaphore(BATCH_CONCURRENCY)

    async def one(index: int, item: EvaluationCreate) -> EvaluationBatchItem:
        async with limit:
            try:
                reply = await clients.scoring.ScoreConversation(
                    score_request(item, conversation_request_id(principal, item.conversation_id)),
                    timeout=clients.timeout,
                )
            except grpc.aio.AioRpcError as exc:
                problem = problem_from_rpc_error(exc)
                if problem.status >= 500 and problem.status != 504:
                    raise  # the service is down: the whole batch fails, retry it as is
                return EvaluationBatchItem(
                    index=index, conversation_id=item.conversation_id, status="refused",
                    error=BatchItemError(status=problem.status, code=problem.code, detail=problem.detail),
                )
        return EvaluationBatchItem(
            index=index, conversation_id=item.conversation_id, status="scored",
            evaluation_id=reply.id, total_score=reply.total_score, grade=reply.grade,
        )

    items = await asyncio.gather(*(one(i, item) for i, item in enumerate(body.items)))
    return EvaluationBatchResult(
        items=list(items),
        scored=sum(1 for i in items if i.status == "scored"),
        refused=sum(1 for i in items if i.status == "refused"),
    )


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
    # DOMAIN.md §5: agents see their own evaluations; another agent's is answered like a
    # missing one (an evaluation that names no agent is nobody's in particular).
    if principal.role not in RULESET_ROLES and evaluation.agent_id not in ("", principal.subject):
        raise NotFound(f"evaluation {evaluation_id} not found", code="evaluation_not_found")
    return evaluation_public(evaluation)


# --- rulesets (published versions; docs/scoring.md) ------------------------------------------

# Publishing rulesets and reviewing hits.
RULESET_ROLES = frozenset({"admin", "lead", "qa"})
RulesetId = Annotated[str, Path(min_length=1, max_length=64, description="The ruleset's id")]
RulesetVersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1, description="A published version")]


async def ruleset_author(principal: Staff) -> Principal:
    if principal.role not in RULESET_ROLES:
        raise PermissionDenied(
            "this operation needs the qa, lead or admin role", code="qa_admin_only"
        )
    return principal


RulesetAuthor = Annotated[Principal, Depends(ruleset_author)]


def ruleset_public(r: scoring_pb2.RulesetVersion) -> RulesetPublic:
    return RulesetPublic(
        id=r.id,
        version=r.version,
        name=r.name,
        rule_count=r.rule_count,
        published_at=r.published_at.ToDatetime(tzinfo=UTC),
        published_by=r.published_by,
        document=json.loads(r.document),
    )


@router.get(
    "/rulesets",
    operation_id="listRulesets",
    summary="The latest version of every published ruleset",
    response_model=RulesetList,
    responses=problem_responses(401, 403, 503, 504),
)
async def list_rulesets(principal: Staff, clients: ClientsDep) -> RulesetList:
    reply = await clients.scoring.ListRulesets(scoring_pb2.ListRulesetsRequest(), timeout=clients.timeout)
    return RulesetList(items=[ruleset_public(r) for r in reply.rulesets])


@router.post(
    "/rulesets",
    status_code=status.HTTP_201_CREATED,
    operation_id="publishRuleset",
    summary="Publish the next version of a ruleset",
    description="The body is the ruleset document (docs/scoring.md). Its `version` must be the "
    "next one (400 `ruleset_version_gap`); re-sending a published version with the same content "
    "returns it, with other content is 409 `ruleset_version_exists`. An invalid document is 400 "
    "`invalid_ruleset` naming each bad field (`rules[3].condition.keywords`).",
    response_model=RulesetPublic,
    responses=problem_responses(400, 401, 403, 409, 413, 422, 503, 504),
)
async def publish_ruleset(
    document: Annotated[dict[str, Any], Body()], principal: RulesetAuthor, clients: ClientsDep
) -> RulesetPublic:
    reply = await clients.scoring.PublishRuleset(
        scoring_pb2.PublishRulesetRequest(
            document=json.dumps(document, ensure_ascii=False), published_by=principal.subject
        ),
        timeout=clients.timeout,
    )
    return ruleset_public(reply)


@router.get(
    "/rulesets/{ruleset_id}",
    operation_id="getRuleset",
    summary="The latest version of a published ruleset",
    response_model=RulesetPublic,
    responses=problem_responses(401, 403, 404, 503, 504),
)
async def get_ruleset(ruleset_id: RulesetId, principal: Staff, clients: ClientsDep) -> RulesetPublic:
    reply = await clients.scoring.GetRuleset(
        scoring_pb2.GetRulesetRequest(id=ruleset_id), timeout=clients.timeout
    )
    return ruleset_public(reply)


@router.get(
    "/rulesets/{ruleset_id}/versions/{version}",
    operation_id="getRulesetVersion",
    summary="One version of a published ruleset",
    response_model=RulesetPublic,
    responses=problem_responses(401, 403, 404, 422, 503, 504),
)
async def get_ruleset_version(
    ruleset_id: RulesetId, version: RulesetVersionNumber, principal: Staff, clients: ClientsDep
) -> RulesetPublic:
    reply = await clients.scoring.GetRuleset(
        scoring_pb2.GetRulesetRequest(id=ruleset_id, version=version), timeout=clients.timeout
    )
    return ruleset_public(reply)


# --- review (复核) ----------------------------------------------------------------------------

HitIndex = Annotated[int, Path(ge=0, le=1_000_000, description="Index of the hit in `hits`")]


@router.post(
    "/evaluations/{evaluation_id}/hits/{hit_index}/review",
    operation_id="reviewHit",
    summary="Confirm or overturn one hit (qa, lead or admin); returns the final score",
    description="The latest decision per hit counts; every decision is kept in `reviews`. "
    "`final_score` is the AI score without the overturned hits.",
    response_model=EvaluationPublic,
    responses=problem_responses(400, 401, 403, 404, 422, 503, 504),
)
async def review_hit(
    evaluation_id: EvaluationId,
    hit_index: HitIndex,
    body: HitReviewCreate,
    principal: RulesetAuthor,
    clients: ClientsDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def call() -> tuple[int, dict[str, Any]]:
        reply = await clients.scoring.ReviewHit(
            scoring_pb2.ReviewHitRequest(
                evaluation_id=evaluation_id,
                hit_index=hit_index,
                decision=body.decision,
                reviewer=principal.subject,
                note=body.note,
            ),
            timeout=clients.timeout,
        )
        return 200, evaluation_public(reply).model_dump(mode="json")

    return await _keyed(request, principal, idempotency_key, "reviewHit",
                        {"evaluation": evaluation_id, "hit": hit_index, **body.model_dump(mode="json")}, call)


def appeal_public(a: scoring_pb2.Appeal) -> AppealPublic:
    return AppealPublic.model_validate(
        _as_dict(a)
    )


@router.post(
    "/evaluations/{evaluation_id}/hits/{hit_index}/appeals",
    status_code=status.HTTP_201_CREATED,
    operation_id="fileAppeal",
    summary="Appeal one hit (申诉): only the agent the evaluation names",
    response_model=AppealPublic,
    responses=problem_responses(400, 401, 403, 404, 409, 422, 503, 504),
)
async def file_appeal(
    evaluation_id: EvaluationId,
    hit_index: HitIndex,
    body: AppealCreate,
    principal: Staff,
    clients: ClientsDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def call() -> tuple[int, dict[str, Any]]:
        reply = await clients.scoring.FileAppeal(
            scoring_pb2.FileAppealRequest(
                evaluation_id=evaluation_id, hit_index=hit_index, appellant=principal.subject,
                reason=body.reason,
            ),
            timeout=clients.timeout,
        )
        return 201, appeal_public(reply).model_dump(mode="json")

    return await _keyed(request, principal, idempotency_key, "fileAppeal",
                        {"evaluation": evaluation_id, "hit": hit_index, **body.model_dump(mode="json")}, call)


@router.post(
    "/appeals/{appeal_id}/decision",
    operation_id="decideAppeal",
    summary="Uphold (the hit is overturned) or reject (confirmed) an open appeal",
    response_model=AppealPublic,
    responses=problem_responses(400, 401, 403, 404, 422, 503, 504),
)
async def decide_appeal(
    appeal_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: AppealDecision,
    principal: RulesetAuthor,
    clients: ClientsDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def call() -> tuple[int, dict[str, Any]]:
        reply = await clients.scoring.DecideAppeal(
            scoring_pb2.DecideAppealRequest(
                appeal_id=appeal_id, outcome=body.outcome, decided_by=principal.subject, note=body.note
            ),
            timeout=clients.timeout,
        )
        return 200, appeal_public(reply).model_dump(mode="json")

    return await _keyed(request, principal, idempotency_key, "decideAppeal",
                        {"appeal": appeal_id, **body.model_dump(mode="json")}, call)


async def _keyed(request: Request, principal: Principal, key: str | None, scope: str, body: dict[str, Any],
                 call: Callable[[], Awaitable[tuple[int, dict[str, Any]]]]) -> JSONResponse:
    """Idempotency-Key for a scoring command that has no request id of its own: the first
    reply is kept in the gateway's idempotency records (gateway/idempotency.py) and replayed
    for the same key and body; another body with the key is 422 `idempotency_key_reused`."""
    state = request.app.state

    async def write(_session: Any) -> tuple[int, dict[str, Any]]:
        return await call()

    status_code, reply = await run_idempotent(
        state.db, scope=scope, request_id=request_id_for(principal, key) if key else None,
        body=body, write=write, clock=state.clock,
    )
    return JSONResponse(reply, status_code=status_code)


@router.get(
    "/reports/agreement",
    operation_id="getReviewAgreement",
    summary="AI-human agreement per rule over the reviewed hits",
    response_model=ReviewAgreementPublic,
    responses=problem_responses(401, 403, 422, 503, 504),
)
async def review_agreement(
    principal: Staff,
    clients: ClientsDep,
    ruleset_id: Annotated[str, Query(max_length=64)] = "",
) -> ReviewAgreementPublic:
    reply = await clients.scoring.GetReviewAgreement(
        scoring_pb2.GetReviewAgreementRequest(ruleset_id=ruleset_id), timeout=clients.timeout
    )
    return ReviewAgreementPublic.model_validate(
        _as_dict(reply)
    )
