"""Reports over time and the "now" panels (issue #12; docs/reports-contract.md).

Series reports take start/end/tz/bucket/group_by/compare and answer `SeriesReport[...]`, each
computed in SQL by the service that owns the data; panels are lists. Every route here is
exportable (`format=csv|xlsx` or `Accept`, kefu_gateway.export).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.errors import InvalidArgument
from kefu_common.periods import Plan
from kefu_common.protoconv import enum_to_str, from_timestamp, report_range
from kefu_gateway.auth import Allowed
from kefu_gateway.clients import ClientsDep
from kefu_gateway.export import EXPORT_RESPONSES, ExportFormat, export_list, export_series, negotiate
from kefu_gateway.problems import problem_responses
from kefu_gateway.report_schemas import (
    BacklogPage,
    BacklogQuery,
    BacklogRowPublic,
    ResolutionTimeValues,
    ServiceMetricsValues,
    TicketFlowValues,
    TicketSeriesQuery,
)
from kefu_gateway.schemas import MetricsGroupBy
from kefu_gateway.series import SeriesReport, build_series

CanReadReports = Allowed["reports:read"]
router = APIRouter(prefix="/v1/reports", tags=["reports"])

_ERRORS = problem_responses(400, 401, 403, 422, 503, 504)
_RESPONSES = {**EXPORT_RESPONSES, **_ERRORS}
_SERIES_HELP = (
    "A series over the local dates `[start, end)` of `tz` (at most 366 days) in `bucket`s of a "
    "day, ISO week or month (or one bucket), each with its previous span's figures beside it "
    "(`compare=previous`); docs/reports-contract.md. `format=csv|xlsx` downloads one row per "
    "group × bucket."
)

_GROUP_BY = {
    MetricsGroupBy.NONE: ticketing_pb2.METRICS_GROUP_BY_UNSPECIFIED,
    MetricsGroupBy.TEAM: ticketing_pb2.METRICS_GROUP_BY_TEAM,
    MetricsGroupBy.AGENT: ticketing_pb2.METRICS_GROUP_BY_AGENT,
    MetricsGroupBy.CATEGORY: ticketing_pb2.METRICS_GROUP_BY_CATEGORY,
    MetricsGroupBy.CHANNEL: ticketing_pb2.METRICS_GROUP_BY_CHANNEL,
}

V = TypeVar("V", bound=BaseModel)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _opt(msg: Any, name: str) -> float | None:
    return getattr(msg, name) if msg.HasField(name) else None


def series_answer(
    fmt: ExportFormat,
    name: str,
    plan: Plan,
    group_by: str,
    rows: Sequence[Any],
    values: Callable[[Any], V],
    empty: Callable[[], V],
    values_model: type[V],
) -> Any:
    """The JSON or file answer of a series: `rows` carry a `key` (kefu.common.v1.SeriesKey)."""
    report = build_series(
        plan, group_by, ((r.key.group, r.key.bucket, r.key.previous, values(r)) for r in rows), empty
    )
    if fmt is not ExportFormat.JSON:
        return export_series(fmt, name, report, values_model)
    return report


def _service_metrics(r: ticketing_pb2.TicketFigures) -> ServiceMetricsValues:
    return ServiceMetricsValues(
        closed_tickets=r.closed_tickets,
        first_contact_resolved=r.first_contact_resolved,
        first_contact_resolution_rate=_ratio(r.first_contact_resolved, r.closed_tickets),
        closed_within_72h=r.closed_within_72h,
        closure_rate_72h=_ratio(r.closed_within_72h, r.closed_tickets),
        resolved_tickets=r.resolved_tickets,
        proactive_contacts=r.proactive_contacts,
        average_proactive_contacts=_ratio(r.proactive_contacts, r.resolved_tickets),
        repeat_contact_tickets=r.repeat_contact_tickets,
        repeat_contact_ratio=_ratio(r.repeat_contact_tickets, r.resolved_tickets),
        created_tickets=r.created_tickets,
        first_response_seconds_median=_opt(r, "first_response_seconds_median"),
        first_response_seconds_p90=_opt(r, "first_response_seconds_p90"),
        reopens=r.reopens,
        reopen_rate=_ratio(r.reopens, r.resolved_tickets),
    )


def _resolution(r: ticketing_pb2.TicketFigures) -> ResolutionTimeValues:
    return ResolutionTimeValues(
        resolved_tickets=r.resolved_tickets,
        resolution_seconds_median=_opt(r, "resolution_seconds_median"),
        resolution_seconds_p90=_opt(r, "resolution_seconds_p90"),
    )


def _flow(r: ticketing_pb2.TicketFigures) -> TicketFlowValues:
    return TicketFlowValues(
        created_tickets=r.created_tickets,
        resolved_tickets=r.resolved_tickets,
        closed_tickets=r.closed_tickets,
        reopens=r.reopens,
    )


def _ticket_report(
    path: str,
    operation_id: str,
    summary: str,
    description: str,
    report: int,
    values: Callable[[ticketing_pb2.TicketFigures], V],
    values_model: type[V],
) -> None:
    """One series route over the ticketing service's GetTicketSeries."""

    async def route(
        request: Request,
        query: Annotated[TicketSeriesQuery, Query()],
        principal: CanReadReports,
        clients: ClientsDep,
    ) -> Any:
        fmt = negotiate(request, query.format)
        plan = query.plan()
        reply = await clients.ticketing.GetTicketSeries(
            ticketing_pb2.GetTicketSeriesRequest(
                range=report_range(plan), group_by=_GROUP_BY[query.group_by], report=report
            ),
            timeout=clients.timeout,
        )
        return series_answer(
            fmt, operation_id, plan, query.group_by.value, reply.rows, values,
            lambda: values(ticketing_pb2.TicketFigures()), values_model,
        )

    router.add_api_route(
        path, route, methods=["GET"], operation_id=operation_id, summary=summary,
        description=_SERIES_HELP + description, response_model=SeriesReport[values_model],
        responses=_RESPONSES,
    )


_ticket_report(
    "/service-metrics", "getServiceMetrics",
    "FCR, proactive and repeat contacts, 72 h closure, first response, reopens — per bucket",
    " FCR and the 72 h closure rate are over the tickets *closed* in the bucket; contacts over "
    "the tickets *resolved* in it (DOMAIN.md §4).",
    ticketing_pb2.TICKET_REPORT_SERVICE_METRICS, _service_metrics, ServiceMetricsValues,
)
_ticket_report(
    "/resolution-time", "getResolutionTime", "Resolution time median and p90 per bucket",
    " Over the tickets resolved in the bucket, from the first contact to the first resolution "
    "in it, in calendar seconds.",
    ticketing_pb2.TICKET_REPORT_RESOLUTION_TIME, _resolution, ResolutionTimeValues,
)
_ticket_report(
    "/ticket-flow", "getTicketFlow", "Tickets created vs resolved (and closed, reopened) per bucket",
    "", ticketing_pb2.TICKET_REPORT_FLOW, _flow, TicketFlowValues,
)


# --- "now" panels: small aggregates paged by offset ---------------------------------------


def offset_cursor(cursor: str | None) -> int:
    """The offset an opaque panel cursor stands for; a bad one → 400 `invalid_cursor`."""
    if cursor is None:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode().removeprefix("o:"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument("cursor is not one this list gave", code="invalid_cursor") from exc
    if value < 0:
        raise InvalidArgument("cursor is not one this list gave", code="invalid_cursor")
    return value


def next_offset_cursor(offset: int, page_size: int, total: int) -> str | None:
    nxt = offset + page_size
    return base64.urlsafe_b64encode(f"o:{nxt}".encode()).decode().rstrip("=") if nxt < total else None


@router.get(
    "/backlog",
    operation_id="getBacklog",
    summary="Open tickets now, by status and age band (since the first contact)",
    description="Open = new, open, pending_customer, reopened. Age bands 0-4h, 4-24h, 1-3d, "
    "3-7d, 7d+; optionally per team/agent/category/channel. A list (cursor pages); "
    "`format=csv|xlsx` downloads it all.",
    response_model=BacklogPage,
    responses=_RESPONSES,
)
async def get_backlog(
    request: Request,
    query: Annotated[BacklogQuery, Query()],
    principal: CanReadReports,
    clients: ClientsDep,
) -> Any:
    fmt = negotiate(request, query.format)
    reply = await clients.ticketing.GetBacklog(
        ticketing_pb2.GetBacklogRequest(group_by=_GROUP_BY[query.group_by]), timeout=clients.timeout
    )
    rows = [
        BacklogRowPublic(
            group=r.group,
            status=enum_to_str(ticketing_pb2.TicketStatus, r.status),
            age_band=r.age_band,
            tickets=r.tickets,
            oldest_first_contact_at=from_timestamp(r.oldest_first_contact_at),
        )
        for r in reply.rows
    ]

    async def page(cursor: str | None) -> tuple[list[BacklogRowPublic], str | None]:
        offset = offset_cursor(cursor)
        size = query.page_size if fmt is ExportFormat.JSON else 500
        return rows[offset : offset + size], next_offset_cursor(offset, size, len(rows))

    if fmt is not ExportFormat.JSON:
        return await export_list(fmt, "getBacklog", BacklogRowPublic, page, cursor=query.cursor)
    items, nxt = await page(query.cursor)
    return BacklogPage(as_of=from_timestamp(reply.as_of), items=items, next_cursor=nxt)
