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

from kefu.escalation.v1 import escalation_pb2
from kefu.scoring.v1 import scoring_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.errors import InvalidArgument
from kefu_common.periods import Plan
from kefu_common.protoconv import enum_to_str, from_timestamp, level_to_str, report_range
from kefu_gateway.auth import Allowed
from kefu_gateway.clients import ClientsDep
from kefu_gateway.export import (
    EXPORT_RESPONSES,
    ExportFormat,
    export_items,
    export_list,
    export_series,
    negotiate,
)
from kefu_gateway.problems import problem_responses
from kefu_gateway.report_schemas import (
    BacklogPage,
    BacklogQuery,
    BacklogRowPublic,
    ClockAtRiskPublic,
    ClocksAtRiskPage,
    ClocksAtRiskQuery,
    EscalationValues,
    QaDistributionQuery,
    QaDistributionReport,
    QaDistributionRow,
    QaGroupBy,
    QaScoreValues,
    QaSeriesQuery,
    RuleHitValues,
    RuleRankingQuery,
    SlaAttainmentQuery,
    SlaAttainmentValues,
    SlaGroupBy,
    UnacknowledgedEscalationPublic,
    UnacknowledgedPage,
    UnacknowledgedQuery,
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


async def list_answer(
    fmt: ExportFormat,
    name: str,
    item_model: type[BaseModel],
    page: Callable[[str | None], Any],
    cursor: str | None,
    as_page: Callable[[list[Any], str | None], BaseModel],
) -> Any:
    """A panel's answer: one page as JSON (`as_page`), or the whole list as a file."""
    if fmt is not ExportFormat.JSON:
        return await export_list(fmt, name, item_model, page, cursor=cursor)
    items, nxt = await page(cursor)
    return as_page(items, nxt)


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

    as_of = from_timestamp(reply.as_of)
    return await list_answer(
        fmt, "getBacklog", BacklogRowPublic, page, query.cursor,
        lambda items, nxt: BacklogPage(as_of=as_of, items=items, next_cursor=nxt),
    )


# --- SLA and escalations (escalation service) --------------------------------------------

_TARGETS = ("first_response", "next_update", "resolution", "escalation_ack")


def _attainment(r: escalation_pb2.SlaFigures) -> SlaAttainmentValues:
    by_target = {t.target: t for t in r.targets}
    fields: dict[str, Any] = {"breaches": sum(t.breached for t in r.targets)}
    for name in _TARGETS:
        t = by_target.get(name)
        finished, met = (t.finished, t.met) if t is not None else (0, 0)
        fields |= {f"{name}_finished": finished, f"{name}_met": met,
                   f"{name}_attainment": _ratio(met, finished)}
    return SlaAttainmentValues(**fields)


def _escalations(r: escalation_pb2.SlaFigures) -> EscalationValues:
    return EscalationValues(
        cycles_opened=r.cycles_opened, tickets_opened=r.tickets_opened,
        tickets_escalated=r.tickets_escalated,
        escalation_rate=_ratio(r.tickets_escalated, r.tickets_opened),
        escalations=r.escalations, to_l1=r.to_l1, to_l2=r.to_l2, to_l3=r.to_l3,
    )


def _sla_report(
    path: str,
    operation_id: str,
    summary: str,
    description: str,
    report: int,
    values: Callable[[escalation_pb2.SlaFigures], V],
    values_model: type[V],
) -> None:
    """One series route over the escalation service's GetSlaSeries."""

    async def route(
        request: Request,
        query: Annotated[SlaAttainmentQuery, Query()],
        principal: CanReadReports,
        clients: ClientsDep,
    ) -> Any:
        fmt = negotiate(request, query.format)
        plan = query.plan()
        reply = await clients.escalation.GetSlaSeries(
            escalation_pb2.GetSlaSeriesRequest(
                range=report_range(plan), by_team=query.group_by is SlaGroupBy.TEAM, report=report
            ),
            timeout=clients.timeout,
        )
        return series_answer(
            fmt, operation_id, plan, query.group_by.value, reply.rows, values,
            lambda: values(escalation_pb2.SlaFigures()), values_model,
        )

    router.add_api_route(
        path, route, methods=["GET"], operation_id=operation_id, summary=summary,
        description=_SERIES_HELP + description, response_model=SeriesReport[values_model],
        responses=_RESPONSES,
    )


_sla_report(
    "/sla-attainment", "getSlaAttainment", "SLA attainment per target, per bucket",
    " A target counts in the bucket it ended in (met, or ended late); `breaches` counts breaches "
    "recorded in the bucket. Grouped by the ticket's team.",
    escalation_pb2.SLA_REPORT_KIND_ATTAINMENT, _attainment, SlaAttainmentValues,
)
_sla_report(
    "/escalations", "getEscalationSeries", "Escalation rate and escalations by level, per bucket",
    " Rate: tickets with a clock cycle opened in the bucket that were escalated within it.",
    escalation_pb2.SLA_REPORT_KIND_ESCALATIONS, _escalations, EscalationValues,
)


@router.get(
    "/clocks-at-risk",
    operation_id="listClocksAtRisk",
    summary="SLA clocks at risk now: due within N minutes, and breached and unresolved",
    description="Running clocks of open cycles due within `within_minutes`, and (with "
    "`include_breached`) clocks past due whose cycle is still open, soonest due first (the most "
    "overdue first), to the second. A list (cursor pages); `format=csv|xlsx` downloads it all.",
    response_model=ClocksAtRiskPage,
    responses=_RESPONSES,
)
async def list_clocks_at_risk(
    request: Request,
    query: Annotated[ClocksAtRiskQuery, Query()],
    principal: CanReadReports,
    clients: ClientsDep,
) -> Any:
    fmt = negotiate(request, query.format)
    as_of: list[Any] = []

    async def page(cursor: str | None) -> tuple[list[ClockAtRiskPublic], str | None]:
        reply = await clients.escalation.ListClocksAtRisk(
            escalation_pb2.ListClocksAtRiskRequest(
                within_minutes=query.within_minutes, include_breached=query.include_breached,
                team=query.team or "", page_size=query.page_size if fmt is ExportFormat.JSON else 500,
                page_token=cursor or "",
            ),
            timeout=clients.timeout,
        )
        as_of.append(from_timestamp(reply.as_of))
        items = [
            ClockAtRiskPublic(
                ticket_id=c.ticket_id, cycle=c.cycle, target=c.target, due_at=from_timestamp(c.due_at),
                seconds_remaining=c.seconds_remaining, seconds_overrun=c.seconds_overrun,
                breached=c.breached, level=level_to_str(c.level), team=c.team,
            )
            for c in reply.clocks
        ]
        return items, reply.next_page_token or None

    return await list_answer(
        fmt, "listClocksAtRisk", ClockAtRiskPublic, page, query.cursor,
        lambda items, nxt: ClocksAtRiskPage(as_of=as_of[0], items=items, next_cursor=nxt),
    )


@router.get(
    "/unacknowledged-escalations",
    operation_id="listUnacknowledgedEscalations",
    summary="Escalations waiting for acknowledgement, oldest first",
    description="Open escalations, and late ones (`ack_breached`) still not acknowledged, with "
    "their acknowledgement due time. A list (cursor pages); `format=csv|xlsx` downloads it all.",
    response_model=UnacknowledgedPage,
    responses=_RESPONSES,
)
async def list_unacknowledged_escalations(
    request: Request,
    query: Annotated[UnacknowledgedQuery, Query()],
    principal: CanReadReports,
    clients: ClientsDep,
) -> Any:
    fmt = negotiate(request, query.format)
    as_of: list[Any] = []

    async def page(cursor: str | None) -> tuple[list[UnacknowledgedEscalationPublic], str | None]:
        reply = await clients.escalation.ListUnacknowledgedEscalations(
            escalation_pb2.ListUnacknowledgedEscalationsRequest(
                team=query.team or "", page_size=query.page_size if fmt is ExportFormat.JSON else 500,
                page_token=cursor or "",
            ),
            timeout=clients.timeout,
        )
        now = from_timestamp(reply.as_of)
        as_of.append(now)
        items = []
        for e in reply.escalations:
            created = from_timestamp(e.created_at)
            due = from_timestamp(e.ack_due_at) if e.HasField("ack_due_at") else None
            items.append(UnacknowledgedEscalationPublic(
                id=e.id, ticket_id=e.ticket_id, trigger=enum_to_str(escalation_pb2.EscalationTrigger, e.trigger) or "",
                from_level=level_to_str(e.from_level), to_level=level_to_str(e.to_level),
                to_party=e.to_party, team=e.team, created_at=created, ack_due_at=due,
                seconds_waiting=int((now - created).total_seconds()),
                seconds_to_ack_due=int((due - now).total_seconds()) if due else None,
                status=e.status,
            ))
        return items, reply.next_page_token or None

    return await list_answer(
        fmt, "listUnacknowledgedEscalations", UnacknowledgedEscalationPublic, page, query.cursor,
        lambda items, nxt: UnacknowledgedPage(as_of=as_of[0], items=items, next_cursor=nxt),
    )


# --- QA (scoring service) ------------------------------------------------------------------


def _group(value: QaGroupBy) -> str:
    return "" if value is QaGroupBy.NONE else value.value


async def _qa_series(clients: Any, plan: Plan, report: int, group_by: str, bin_width: int = 0) -> Any:
    reply = await clients.scoring.GetQaSeries(
        scoring_pb2.GetQaSeriesRequest(
            range=report_range(plan), group_by=group_by, report=report, bin_width=bin_width
        ),
        timeout=clients.timeout,
    )
    return reply.rows


def _qa_scores(r: scoring_pb2.QaFigures) -> QaScoreValues:
    return QaScoreValues(
        evaluations=r.evaluations, score_mean=_opt(r, "score_mean"), fatal=r.fatal,
        grade_a=r.grade_a, grade_b=r.grade_b, grade_c=r.grade_c, grade_d=r.grade_d,
        satisfaction_mean=_opt(r, "satisfaction_mean"), predicted_satisfied=r.predicted_satisfied,
        predicted_detractors=r.predicted_detractors,
    )


@router.get(
    "/qa-scores",
    operation_id="getQaScores",
    summary="QA scores per bucket: evaluations, mean score, fatal hits, grades",
    description=_SERIES_HELP + " An evaluation counts in the bucket it was scored in.",
    response_model=SeriesReport[QaScoreValues],
    responses=_RESPONSES,
)
async def get_qa_scores(
    request: Request,
    query: Annotated[QaSeriesQuery, Query()],
    principal: CanReadReports,
    clients: ClientsDep,
) -> Any:
    fmt = negotiate(request, query.format)
    plan = query.plan()
    rows = await _qa_series(clients, plan, scoring_pb2.QA_REPORT_SCORES, _group(query.group_by))
    return series_answer(
        fmt, "getQaScores", plan, query.group_by.value, rows, _qa_scores,
        lambda: _qa_scores(scoring_pb2.QaFigures()), QaScoreValues,
    )


@router.get(
    "/qa-score-distribution",
    operation_id="getQaScoreDistribution",
    summary="QA score distribution (histogram) per agent, category, channel or ruleset",
    description="Evaluations per score bin of `bin_width` points, per group and bucket, with the "
    "previous span's count beside each bin; every bin is present (zeros included). "
    "`format=csv|xlsx` downloads the rows.",
    response_model=QaDistributionReport,
    responses=_RESPONSES,
)
async def get_qa_score_distribution(
    request: Request,
    query: Annotated[QaDistributionQuery, Query()],
    principal: CanReadReports,
    clients: ClientsDep,
) -> Any:
    fmt = negotiate(request, query.format)
    plan = query.plan()
    rows = await _qa_series(
        clients, plan, scoring_pb2.QA_REPORT_DISTRIBUTION, _group(query.group_by), query.bin_width
    )
    counts = {(r.key.group, r.key.bucket, r.key.previous, r.bin_start): r.evaluations for r in rows}
    groups = [""] if query.group_by is QaGroupBy.NONE else sorted({k[0] for k in counts})
    width = query.bin_width
    bins = [float(b) for b in range(0, 100, width)]
    items = [
        QaDistributionRow(
            group=g, bucket_start=b.span.start, bucket_end=b.span.end, bin_start=lo,
            bin_end=min(lo + width, 100.0), evaluations=counts.get((g, b.index, False, lo), 0),
            previous_evaluations=counts.get((g, b.index, True, lo), 0) if b.previous else None,
        )
        for g in groups for b in plan.buckets for lo in bins
    ]
    if fmt is not ExportFormat.JSON:
        return export_items(fmt, "getQaScoreDistribution", QaDistributionRow, items,
                            start=plan.start, end=plan.end)
    return QaDistributionReport(start=plan.start, end=plan.end, tz=plan.tz_name,
                                group_by=query.group_by, bin_width=width, items=items)


def _rule_hits(r: scoring_pb2.QaFigures) -> RuleHitValues:
    return RuleHitValues(hits=r.hits, evaluations_hit=r.evaluations_hit, evaluations=r.evaluations,
                         share_of_evaluations=_ratio(r.evaluations_hit, r.evaluations))


@router.get(
    "/rule-hits",
    operation_id="getRuleHitRanking",
    summary="Rule-hit ranking: hits per rule and share of evaluations, per bucket",
    description=_SERIES_HELP + " One series per rule (`group` = rule id), the `limit` rules with "
    "the most hits over the range first.",
    response_model=SeriesReport[RuleHitValues],
    responses=_RESPONSES,
)
async def get_rule_hit_ranking(
    request: Request,
    query: Annotated[RuleRankingQuery, Query()],
    principal: CanReadReports,
    clients: ClientsDep,
) -> Any:
    fmt = negotiate(request, query.format)
    plan = query.plan()
    rows = await _qa_series(clients, plan, scoring_pb2.QA_REPORT_RULE_HITS, "")

    def ranked(by_key: dict[tuple[str, int, bool], RuleHitValues]) -> list[str]:
        totals: dict[str, int] = {}
        for (rule, _, previous), v in by_key.items():
            totals[rule] = totals.get(rule, 0) + (0 if previous else v.hits)
        picked = (r for r in totals if r and totals[r])
        return sorted(picked, key=lambda r: (-totals[r], r))[: query.limit]

    report = build_series(
        plan, "rule", ((r.key.group, r.key.bucket, r.key.previous, _rule_hits(r)) for r in rows),
        lambda: RuleHitValues(hits=0, evaluations_hit=0, evaluations=0, share_of_evaluations=None),
        order=ranked,
    )
    # every bucket knows how many evaluations it had, hit or not
    totals = {(r.key.bucket, r.key.previous): r.evaluations for r in rows if not r.key.group}
    for s in report.series:
        for b, planned in zip(s.buckets, plan.buckets, strict=True):
            b.values.evaluations = totals.get((planned.index, False), 0)
            b.values.share_of_evaluations = _ratio(b.values.evaluations_hit, b.values.evaluations)
            if b.previous is not None:
                b.previous.evaluations = totals.get((planned.index, True), 0)
                b.previous.share_of_evaluations = _ratio(b.previous.evaluations_hit, b.previous.evaluations)
    if fmt is not ExportFormat.JSON:
        return export_series(fmt, "getRuleHitRanking", report, RuleHitValues)
    return report
