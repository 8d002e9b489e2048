"""Service metrics (DOMAIN.md §4) over a period, computed by the ticketing service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.protoconv import to_timestamp
from kefu_gateway.auth import Allowed
from kefu_gateway.clients import ClientsDep
from kefu_gateway.convert import metrics_public
from kefu_gateway.problems import problem_responses
from kefu_gateway.schemas import MetricsGroupBy, ServiceMetricsQuery, ServiceMetricsReport

CanReadReports = Allowed["reports:read"]
router = APIRouter(prefix="/v1/reports", tags=["reports"])

_GROUP_BY = {
    MetricsGroupBy.NONE: ticketing_pb2.METRICS_GROUP_BY_UNSPECIFIED,
    MetricsGroupBy.TEAM: ticketing_pb2.METRICS_GROUP_BY_TEAM,
    MetricsGroupBy.AGENT: ticketing_pb2.METRICS_GROUP_BY_AGENT,
    MetricsGroupBy.CATEGORY: ticketing_pb2.METRICS_GROUP_BY_CATEGORY,
    MetricsGroupBy.CHANNEL: ticketing_pb2.METRICS_GROUP_BY_CHANNEL,
}


@router.get(
    "/service-metrics",
    operation_id="getServiceMetrics",
    summary="First-contact resolution, proactive contacts, repeat contacts and more, per group",
    description="Over the half-open period `[period_start, period_end)`, at most 366 days. "
    "Ungrouped: exactly one row with an empty `group`. Grouped: one row per team, agent, "
    "category or channel that had tickets created or resolved in the period.",
    response_model=ServiceMetricsReport,
    responses=problem_responses(400, 401, 403, 422, 503, 504),
)
async def get_service_metrics(
    query: Annotated[ServiceMetricsQuery, Query()],
    principal: CanReadReports,
    clients: ClientsDep,
) -> ServiceMetricsReport:
    reply = await clients.ticketing.GetServiceMetrics(
        ticketing_pb2.GetServiceMetricsRequest(
            period_start=to_timestamp(query.period_start),
            period_end=to_timestamp(query.period_end),
            group_by=_GROUP_BY[query.group_by],
        ),
        timeout=clients.timeout,
    )
    return ServiceMetricsReport(
        period_start=query.period_start,
        period_end=query.period_end,
        group_by=query.group_by,
        rows=[metrics_public(r) for r in reply.rows],
    )
