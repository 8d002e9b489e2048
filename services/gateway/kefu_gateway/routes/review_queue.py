"""The review queue (复核 / 申诉): stored evaluations and appeals as lists, and the sampling
policy's queue (docs/scoring.md "Review queue").

Who sees what (DOMAIN.md §5): qa, lead and admin see every evaluation and appeal; any other
staff role (agent, specialist) sees only the evaluations that name them and their own appeals,
whatever the query asks. The sampled queue is for reviewers (qa, lead, admin) only.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from google.protobuf import json_format

from kefu.scoring.v1 import scoring_pb2
from kefu_common.protoconv import to_timestamp
from kefu_gateway.auth import Principal, Staff
from kefu_gateway.clients import ClientsDep
from kefu_gateway.export import EXPORT_RESPONSES
from kefu_gateway.lists import page_or_file
from kefu_gateway.problems import problem_responses
from kefu_gateway.review_schemas import (
    AppealListQuery,
    AppealPage,
    AppealSummaryPublic,
    EvaluationListQuery,
    EvaluationSummaryPage,
    EvaluationSummaryPublic,
    ReviewQueueQuery,
)
from kefu_gateway.routes.qa import RULESET_ROLES, RulesetAuthor

router = APIRouter(prefix="/v1/qa", tags=["quality"])

_RESPONSES = {**EXPORT_RESPONSES, **problem_responses(400, 401, 403, 422, 503, 504)}


def sees_everyone(principal: Principal) -> bool:
    return principal.role in RULESET_ROLES


def evaluation_filter(query: EvaluationListQuery, principal: Principal) -> scoring_pb2.EvaluationFilter:
    start, end = query.utc_bounds()
    f = scoring_pb2.EvaluationFilter(
        agent_id=query.agent_id if sees_everyone(principal) else principal.subject,
        team=query.team,
        ruleset_id=query.ruleset_id,
        ruleset_version=query.ruleset_version,
        grades=list(query.grade),
        rule_id=query.rule_id,
        start=to_timestamp(start) if start else None,
        end=to_timestamp(end) if end else None,
    )
    for name in ("min_score", "max_score", "fatal", "reviewed", "open_appeal"):
        value = getattr(query, name)
        if value is not None:
            setattr(f, name, value)
    return f


def summary_public(s: scoring_pb2.EvaluationSummary) -> EvaluationSummaryPublic:
    return EvaluationSummaryPublic.model_validate(
        json_format.MessageToDict(s, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    )


def appeal_summary_public(a: scoring_pb2.AppealSummary) -> AppealSummaryPublic:
    fields = json_format.MessageToDict(
        a.appeal, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return AppealSummaryPublic.model_validate(
        {**fields, "ticket_id": a.ticket_id, "agent_id": a.agent_id, "team": a.team, "rule_id": a.rule_id}
    )


async def evaluation_page(
    clients: Any, principal: Principal, query: EvaluationListQuery, cursor: str
) -> EvaluationSummaryPage:
    reply = await clients.scoring.ListEvaluations(
        scoring_pb2.ListEvaluationsRequest(
            filter=evaluation_filter(query, principal), page_size=query.page_size, page_token=cursor
        ),
        timeout=clients.timeout,
    )
    return EvaluationSummaryPage(
        items=[summary_public(s) for s in reply.evaluations], next_cursor=reply.next_page_token or None
    )


async def queue_page(clients: Any, principal: Principal, query: ReviewQueueQuery, cursor: str) -> EvaluationSummaryPage:
    reply = await clients.scoring.GetReviewQueue(
        scoring_pb2.GetReviewQueueRequest(
            filter=evaluation_filter(query, principal), share=query.share, seed=query.seed,
            page_size=query.page_size, page_token=cursor,
        ),
        timeout=clients.timeout,
    )
    return EvaluationSummaryPage(
        items=[summary_public(s) for s in reply.evaluations], next_cursor=reply.next_page_token or None
    )


async def appeal_page(clients: Any, principal: Principal, query: AppealListQuery, cursor: str) -> AppealPage:
    reply = await clients.scoring.ListAppeals(
        scoring_pb2.ListAppealsRequest(
            status=query.status,
            appellant=query.appellant if sees_everyone(principal) else principal.subject,
            evaluation_id=query.evaluation_id, page_size=query.page_size, page_token=cursor,
        ),
        timeout=clients.timeout,
    )
    return AppealPage(items=[appeal_summary_public(a) for a in reply.appeals], next_cursor=reply.next_page_token or None)


@router.get(
    "/evaluations",
    operation_id="listEvaluations",
    summary="Stored evaluations as summaries, newest first, filtered (复核)",
    description="Filters: agent, team, ruleset (id, version), grade, AI score range, a rule "
    "hit, fatal, period of the conversation, reviewed or not, open appeal or not. Agents and "
    "specialists see only their own evaluations. Keyset-paginated (`cursor`).",
    response_model=EvaluationSummaryPage,
    responses=_RESPONSES,
)
async def list_evaluations(
    query: Annotated[EvaluationListQuery, Query()], principal: Staff, clients: ClientsDep, request: Request
) -> EvaluationSummaryPage | Response:
    return await page_or_file(request, query, "listEvaluations", EvaluationSummaryPublic, partial(evaluation_page, clients, principal, query), **query.dates())


@router.get(
    "/review-queue",
    operation_id="getReviewQueue",
    summary="What to review first: every fatal, every risk-flagged and a seeded share of the rest",
    description="The sampling policy for human review (qa, lead, admin): every evaluation with "
    "a fatal hit, then every one with a risk flag, then the evaluations of the rest that the "
    "hash of (`seed`, evaluation id) puts below `share`; oldest first within each. The same "
    "seed over the same data gives the same queue. Not yet reviewed ones only, unless "
    "`reviewed` says otherwise; the filters of `listEvaluations` apply on top.",
    response_model=EvaluationSummaryPage,
    responses=_RESPONSES,
)
async def get_review_queue(
    query: Annotated[ReviewQueueQuery, Query()], principal: RulesetAuthor, clients: ClientsDep, request: Request
) -> EvaluationSummaryPage | Response:
    return await page_or_file(request, query, "getReviewQueue", EvaluationSummaryPublic, partial(queue_page, clients, principal, query), **query.dates())


@router.get(
    "/appeals",
    operation_id="listAppeals",
    summary="Appeals (申诉), open ones by default, oldest first",
    description="Agents and specialists see only the appeals they filed.",
    response_model=AppealPage,
    responses=_RESPONSES,
)
async def list_appeals(
    query: Annotated[AppealListQuery, Query()], principal: Staff, clients: ClientsDep, request: Request
) -> AppealPage | Response:
    return await page_or_file(request, query, "listAppeals", AppealSummaryPublic, partial(appeal_page, clients, principal, query))
