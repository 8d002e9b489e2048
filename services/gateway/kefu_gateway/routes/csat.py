"""Customer satisfaction (DOMAIN.md §4 CSAT / NPS): the customer rates a resolved case, a
partner posts the ratings it collected, staff read a ticket's ratings, and the CSAT report.

The ticketing service holds the rules (kefu_ticketing/ratings.py): resolved tickets only,
once per cycle with changes for a window (the latest counts), the caller's own ticket only.
These routes translate, and say who the caller is: a customer's case must be theirs
(`customer_id`), a partner's ticket must have been created by it (`created_by`).
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.errors import NotFound
from kefu_common.protoconv import report_range, to_timestamp
from kefu_gateway.auth import Allowed, Principal
from kefu_gateway.clients import Clients, ClientsDep
from kefu_gateway.csat_schemas import (
    CaseRatingPublic,
    CsatQuery,
    CsatValues,
    RatingCreate,
    RatingList,
    RatingListQuery,
    RatingPage,
    RatingPublic,
)
from kefu_gateway.deps import IdempotencyKey, request_id_for
from kefu_gateway.export import (
    EXPORT_RESPONSES,
    ExportFormat,
    ExportQuery,
    export_items,
    export_series,
    negotiate,
)
from kefu_gateway.lists import page_or_file
from kefu_gateway.problems import problem_responses
from kefu_gateway.scope import AccessibleTicketId, TicketId
from kefu_gateway.series import SeriesReport, build_series

customer_router = APIRouter(prefix="/v1/customer/cases", tags=["customer"])
tickets_router = APIRouter(prefix="/v1/tickets", tags=["tickets"])
reports_router = APIRouter(prefix="/v1/reports", tags=["reports"])
ratings_router = APIRouter(prefix="/v1/ratings", tags=["reports"])

Customer = Allowed["cases:own"]
Collector = Allowed["ratings:collect"]
Reader = Allowed["ratings:read"]
ReportReader = Allowed["reports:read"]

_RATE_HELP = (
    "Only a resolved (or closed) case: otherwise 400 `ticket_not_resolved`. One rating per "
    "cycle of the case (a reopened and again resolved case is rated afresh); sending another "
    "within the change window (TICKETING_CSAT_CHANGE_WINDOW_DAYS, from the cycle's first "
    "rating) is a new revision and the latest counts; after it 400 `rating_window_closed`. "
    "Sending the same rating again changes nothing (safe to retry; `Idempotency-Key` too). A "
    "score at or below the dissatisfied threshold makes the escalation service propose a reopen."
)


def rating_public(r: ticketing_pb2.Rating) -> RatingPublic:
    return RatingPublic(
        id=r.id, ticket_id=r.ticket_id, cycle=r.cycle, revision=r.revision, score=r.score,
        nps=r.nps if r.HasField("nps") else None, comment=r.comment, source=r.source,
        created_at=r.created_at.ToDatetime(tzinfo=UTC), changeable_until=r.changeable_until.ToDatetime(tzinfo=UTC),
        rater=r.rater, dissatisfied=r.dissatisfied, team=r.team, agent_id=r.agent_id, category=r.category,
        channel=r.channel,
    )


def case_rating_public(r: ticketing_pb2.Rating) -> CaseRatingPublic:
    return CaseRatingPublic.model_validate(rating_public(r).model_dump(include=set(CaseRatingPublic.model_fields)))


async def _rate(clients: Clients, principal: Principal, key: str | None, body: RatingCreate, ticket_id: str,
                **owner: str) -> CaseRatingPublic:
    """Rate as the caller: a customer (their case, `customer_id`) or a partner (a ticket it
    created, `created_by`)."""
    reply = await clients.ticketing.RateTicket(
        ticketing_pb2.RateTicketRequest(
            request_id=request_id_for(principal, key), ticket_id=ticket_id, score=body.score, nps=body.nps,
            comment=body.comment, source=principal.role, rater=principal.actor, **owner,
        ),
        timeout=clients.timeout,
    )
    return case_rating_public(reply)


@customer_router.post(
    "/{case_id}/rating",
    status_code=status.HTTP_201_CREATED,
    operation_id="rateMyCase",
    summary="Rate my resolved case (CSAT 1-5, a comment, optionally NPS 0-10)",
    description=_RATE_HELP,
    response_model=CaseRatingPublic,
    responses=problem_responses(400, 401, 403, 404, 409, 422, 429, 503, 504),
)
async def rate_my_case(
    principal: Customer, case_id: TicketId, body: RatingCreate, clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> CaseRatingPublic:
    return await _rate(clients, principal, idempotency_key, body, case_id, customer_id=principal.subject)


@customer_router.get(
    "/{case_id}/rating",
    operation_id="getMyCaseRating",
    summary="My latest rating of this case",
    description="The latest revision of the latest rated cycle; 404 `rating_not_found` before the first rating.",
    response_model=CaseRatingPublic,
    responses=problem_responses(401, 403, 404, 422, 429, 503, 504),
)
async def get_my_case_rating(principal: Customer, case_id: TicketId, clients: ClientsDep) -> CaseRatingPublic:
    reply = await clients.ticketing.ListRatings(
        ticketing_pb2.ListRatingsRequest(ticket_id=case_id, customer_id=principal.subject), timeout=clients.timeout
    )
    if not reply.ratings:
        raise NotFound("this case has not been rated yet", code="rating_not_found")
    return case_rating_public(reply.ratings[-1])


@tickets_router.post(
    "/{ticket_id}/ratings",
    status_code=status.HTTP_201_CREATED,
    operation_id="postTicketRating",
    summary="Post a rating the partner collected from the customer (tickets it created only)",
    description=_RATE_HELP.replace("case", "ticket"),
    response_model=CaseRatingPublic,
    responses=problem_responses(400, 401, 403, 404, 409, 422, 429, 503, 504),
)
async def post_ticket_rating(
    principal: Collector, ticket_id: AccessibleTicketId, body: RatingCreate, clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> CaseRatingPublic:
    return await _rate(clients, principal, idempotency_key, body, ticket_id, created_by=principal.actor)


@tickets_router.get(
    "/{ticket_id}/ratings",
    operation_id="listTicketRatings",
    summary="Every rating of a ticket, every revision of every cycle, oldest first (staff)",
    response_model=RatingList,
    responses={**EXPORT_RESPONSES, **problem_responses(401, 403, 404, 422, 503, 504)},
)
async def list_ticket_ratings(
    principal: Reader, ticket_id: TicketId, clients: ClientsDep, request: Request,
    query: Annotated[ExportQuery, Query()],
) -> RatingList | Response:
    reply = await clients.ticketing.ListRatings(
        ticketing_pb2.ListRatingsRequest(ticket_id=ticket_id), timeout=clients.timeout
    )
    items = [rating_public(r) for r in reply.ratings]
    fmt = negotiate(request, query.format)
    if fmt is not ExportFormat.JSON:
        return export_items(fmt, "listTicketRatings", RatingPublic, items)
    return RatingList(items=items)


@reports_router.get(
    "/csat",
    operation_id="getCsatReport",
    summary="CSAT and NPS per bucket, with the previous period beside each",
    description="CSAT = ratings of 4 or 5 ÷ all ratings, per period of the rating, one per ticket "
    "cycle (its latest rating counts, in the bucket it was given); NPS = % promoters (9-10) − % "
    "detractors (0-6) of the ratings that answered it. Grouped by the ticket's team / agent / "
    "category / channel when it was rated.",
    response_model=SeriesReport[CsatValues],
    responses={**EXPORT_RESPONSES, **problem_responses(400, 401, 403, 422, 503, 504)},
)
async def get_csat_report(
    query: Annotated[CsatQuery, Query()], principal: ReportReader, clients: ClientsDep, request: Request
) -> SeriesReport[CsatValues] | Response:
    plan = query.plan()
    group_by = query.group_by.value
    reply = await clients.ticketing.GetCsatReport(
        ticketing_pb2.GetCsatReportRequest(range=report_range(plan), group_by=group_by), timeout=clients.timeout
    )
    figures = [
        (r.key.group, r.key.bucket, r.key.previous,
         CsatValues.of(ratings=r.ratings, satisfied=r.satisfied, score_sum=r.score_sum,
                       nps_responses=r.nps_responses, promoters=r.promoters, detractors=r.detractors))
        for r in reply.rows
    ]
    report = build_series(plan, group_by, figures, CsatValues.empty)
    fmt = negotiate(request, query.format)
    if fmt is not ExportFormat.JSON:
        return export_series(fmt, "getCsatReport", report, CsatValues)
    return report


@ratings_router.get(
    "",
    operation_id="listRatings",
    summary="The ratings that count (each cycle's latest), newest first: comments for the CSAT panel",
    description="Filters: the ticket's team / agent / category / channel when rated, score range "
    "(`max_score=2`: the dissatisfied ones), period of the rating (`start`/`end`: dates in `tz` or "
    "instants). Keyset-paginated; `format=csv|xlsx` exports every page.",
    response_model=RatingPage,
    responses={**EXPORT_RESPONSES, **problem_responses(400, 401, 403, 422, 503, 504)},
)
async def list_ratings(
    query: Annotated[RatingListQuery, Query()], principal: Reader, clients: ClientsDep, request: Request
) -> RatingPage | Response:
    start, end = query.utc_bounds()

    async def fetch(cursor: str) -> RatingPage:
        reply = await clients.ticketing.ListLatestRatings(
            ticketing_pb2.ListLatestRatingsRequest(
                team=query.team, agent_id=query.agent_id, category=query.category, channel=query.channel,
                min_score=query.min_score or 0, max_score=query.max_score or 0,
                start=to_timestamp(start) if start else None, end=to_timestamp(end) if end else None,
                page_size=query.page_size, page_token=cursor,
            ),
            timeout=clients.timeout,
        )
        return RatingPage(items=[rating_public(r) for r in reply.ratings], next_cursor=reply.next_page_token or None)

    return await page_or_file(request, query, "listRatings", RatingPublic, fetch, **query.dates())
