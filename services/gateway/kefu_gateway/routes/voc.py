"""`GET /v1/reports/voc`: voice of customer — the reasons customers call about, as a series
(docs/reports-contract.md), with hot words and phrases; exportable as CSV / XLSX."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from google.protobuf import json_format
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kefu.scoring.v1 import scoring_pb2
from kefu_common.timestamps import UtcDateTime
from kefu_common import periods
from kefu_common.periods import BucketUnit, Compare
from kefu_common.protoconv import report_range
from kefu_gateway.auth import Staff
from kefu_gateway.clients import ClientsDep
from kefu_gateway.export import EXPORT_RESPONSES, ExportFormat, ExportQuery, export_series, negotiate
from kefu_gateway.problems import problem_responses
from kefu_gateway.series import SeriesBucket, SeriesGroup, SeriesReport

router = APIRouter(prefix="/v1/reports", tags=["reports"])

DEFAULT_DAYS = 7


class VocQuery(ExportQuery):
    """Voice of customer over `[start, end)`: local dates of `tz` (the report contract); the
    old date-times are still accepted and widened to the whole local days covering them."""

    model_config = ConfigDict(extra="forbid")

    start: date | AwareDatetime | None = Field(
        default=None, description="First local date (inclusive); default: 7 days before end"
    )
    end: date | AwareDatetime | None = Field(
        default=None, description="Local date after the range (exclusive); default: tomorrow"
    )
    tz: str = Field(default=periods.DEFAULT_TZ, min_length=1, max_length=64, description="IANA time zone")
    bucket: BucketUnit = Field(default=BucketUnit.NONE, description="`day`, `week`, `month` or `none`")
    compare: Compare = Field(default=Compare.PREVIOUS, description="`previous` or `none`")
    group_by: Literal["none", "category", "channel", "product"] = Field(
        default="none", description="Reasons found separately per category, channel or product"
    )
    baseline_days: int = Field(default=28, ge=0, le=366, description="Trailing baseline before start (spikes)")
    category: str = Field(default="", max_length=64)
    channel: str = Field(default="", max_length=32)
    product: str = Field(default="", max_length=128)
    limit: int = Field(default=20, ge=1, le=200, description="Reasons per group, hot words and phrases")
    examples: int = Field(default=3, ge=0, le=10, description="Example quotes per reason")


class VocTermPublic(BaseModel):
    term: str
    conversations: int
    baseline_conversations: int
    lift: float
    spike: bool


class VocQuotePublic(BaseModel):
    evaluation_id: str
    conversation_id: str
    started_at: UtcDateTime
    turn_index: int
    text: str = Field(description="The customer's turn, PII-masked")


class VocReasonPublic(BaseModel):
    group: str = Field(description="The group_by value; empty when ungrouped")
    rank: int
    label: str = Field(description="Its three most telling words", examples=["老人 / 不适合 / 看不懂"])
    phrases: list[str] = Field(
        description="Its words (at most 8), most telling first; a word written `agent:…` is one the agents "
        "answer this reason with (the label is always the customer's words)"
    )
    conversations: int = Field(description="Conversations of the range whose main reason this is")
    share: float | None = Field(description="conversations ÷ the group's conversations of the range")
    mentions: int = Field(description="Conversations of the range that mention it, main reason or not")
    previous_conversations: int = Field(description="The same over the span of equal length before the range")
    previous_share: float | None
    baseline_conversations: int
    lift: float = Field(description="Share in the range ÷ share in the baseline (smoothed)")
    spike: bool = Field(description="lift >= 3 in at least 3 conversations (突发)")
    examples: list[VocQuotePublic]


class VocGroupPublic(BaseModel):
    group: str
    conversations: int
    previous_conversations: int
    baseline_conversations: int
    boilerplate: list[str] = Field(description="Words left out: shared by nearly every conversation, or scripts")


class VocBucketValues(BaseModel):
    reason: str = Field(description="The reason's rank and label")
    conversations: int
    total: int = Field(description="Conversations of the group in the span")
    share: float | None
    spike: bool


class VocReport(BaseModel):
    start: date
    end: date
    tz: str
    bucket: BucketUnit
    group_by: str
    compare: Compare
    conversations: int
    baseline_conversations: int
    reasons: list[VocReasonPublic]
    groups: list[VocGroupPublic]
    series: list[SeriesGroup[VocBucketValues]] = Field(description="One series per reason (group · #rank label)")
    terms: list[VocTermPublic] = Field(description="Hot words, boilerplate left out")
    phrases: list[VocTermPublic] = Field(description="Hot two-word phrases, boilerplate left out")


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _plan(query: VocQuery) -> periods.Plan:
    start, end = query.start, query.end
    zone = periods.zone(query.tz)
    if isinstance(start, datetime) or isinstance(end, datetime):
        end_at = end if isinstance(end, datetime) else None
        start_at = start if isinstance(start, datetime) else None
        end_at = end_at or datetime.now(zone)
        start_at = start_at or end_at - timedelta(days=DEFAULT_DAYS)
        start = start_at.astimezone(zone).date()
        local_end = end_at.astimezone(zone)
        end = local_end.date() + timedelta(days=0 if local_end.time() == datetime.min.time() else 1)
    if end is None:
        end = datetime.now(zone).date() + timedelta(days=1)
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS)
    return periods.plan(start, end, tz=zone, unit=query.bucket, compare=query.compare)


def _label(r: scoring_pb2.VoiceOfCustomer.Reason) -> str:
    text = f"#{r.rank} {r.label}"
    return f"{r.group} · {text}" if r.group else text


def _report(query: VocQuery, plan: periods.Plan, reply: scoring_pb2.VoiceOfCustomer) -> VocReport:
    groups = {g.group: g for g in reply.groups}
    reasons, series = [], []
    for r in reply.reasons:
        g = groups[r.group]
        reasons.append(
            VocReasonPublic(
                group=r.group, rank=r.rank, label=r.label, phrases=list(r.phrases),
                conversations=r.conversations, share=_share(r.conversations, g.conversations),
                mentions=r.mentions, previous_conversations=r.previous_conversations,
                previous_share=_share(r.previous_conversations, g.previous_conversations),
                baseline_conversations=r.baseline_conversations, lift=r.lift, spike=r.spike,
                examples=[
                    VocQuotePublic(
                        evaluation_id=q.evaluation_id, conversation_id=q.conversation_id,
                        started_at=q.started_at.ToDatetime(tzinfo=UTC), turn_index=q.turn_index, text=q.text,
                    )
                    for q in r.examples
                ],
            )
        )
        label = _label(r)
        buckets = []
        for b, figures in zip(plan.buckets, r.buckets):
            total = g.bucket_conversations[b.index]
            prev_total = g.bucket_previous_conversations[b.index]
            buckets.append(
                SeriesBucket[VocBucketValues](
                    start=b.span.start, end=b.span.end, clipped=b.clipped,
                    values=VocBucketValues(
                        reason=label, conversations=figures.conversations, total=total,
                        share=_share(figures.conversations, total), spike=figures.spike,
                    ),
                    previous_start=b.previous.start if b.previous else None,
                    previous_end=b.previous.end if b.previous else None,
                    previous=VocBucketValues(
                        reason=label, conversations=figures.previous_conversations, total=prev_total,
                        share=_share(figures.previous_conversations, prev_total), spike=False,
                    ) if b.previous else None,
                )
            )
        series.append(SeriesGroup[VocBucketValues](group=label, buckets=buckets))
    as_dict = json_format.MessageToDict(
        reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return VocReport(
        start=plan.start, end=plan.end, tz=plan.tz_name, bucket=plan.unit, group_by=query.group_by,
        compare=plan.compare, conversations=reply.conversations,
        baseline_conversations=reply.baseline_conversations, reasons=reasons,
        groups=[
            VocGroupPublic(
                group=g.group, conversations=g.conversations,
                previous_conversations=g.previous_conversations,
                baseline_conversations=g.baseline_conversations, boilerplate=list(g.boilerplate),
            )
            for g in reply.groups
        ],
        series=series,
        terms=[VocTermPublic.model_validate(t) for t in as_dict["terms"]],
        phrases=[VocTermPublic.model_validate(t) for t in as_dict["phrases"]],
    )


@router.get(
    "/voc",
    operation_id="getVoiceOfCustomer",
    summary="Voice of customer: the reasons customers call about, per bucket, with spikes and quotes",
    description="From the customers' turns of the conversations that *happened* (`started_at`) "
    "in `[start, end)` (local dates of `tz`; default the last 7 days), optionally for one "
    "category, channel and product, or found per `group_by`. Related phrases are grouped into "
    "**reasons**; words shared by nearly every conversation of every month (the product's "
    "name, a stock opening) and the agents' scripts are left out. Each reason: its label (top "
    "phrases), conversations whose main reason it is and their share, mentions, the previous "
    "span, a spike flag against the trailing `baseline_days`, and PII-masked example quotes; "
    "`series` has one series per reason with every bucket and its previous span. Hot words and "
    "two-word phrases (boilerplate left out) as before. `format=csv|xlsx` exports the series "
    "(one row per reason × bucket). See docs/scoring.md, Voice of customer.",
    response_model=VocReport,
    responses={**EXPORT_RESPONSES, **problem_responses(400, 401, 403, 406, 422, 503, 504)},
)
async def get_voice_of_customer(
    request: Request, query: Annotated[VocQuery, Query()], principal: Staff, clients: ClientsDep
) -> VocReport | StreamingResponse:
    fmt = negotiate(request, query.format)
    plan = _plan(query)
    reply = await clients.scoring.GetVoiceOfCustomer(
        scoring_pb2.GetVoiceOfCustomerRequest(
            range=report_range(plan),
            baseline_days=query.baseline_days,
            category=query.category,
            channel=query.channel,
            product=query.product,
            group_by=query.group_by,
            limit=query.limit,
            examples=query.examples,
        ),
        timeout=clients.timeout,
    )
    report = _report(query, plan, reply)
    if fmt is ExportFormat.JSON:
        return report
    series = SeriesReport[VocBucketValues](
        start=report.start, end=report.end, tz=report.tz, bucket=report.bucket,
        group_by=report.group_by, compare=report.compare, series=report.series,
    )
    return export_series(fmt, "getVoiceOfCustomer", series, VocBucketValues)

