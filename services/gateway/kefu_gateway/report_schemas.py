"""Query and value models of the reports over time and the "now" panels (issue #12).

Each series report has a `<Name>Values` model (the figures of one bucket, and of its previous
span) and a query derived from `SeriesQuery`; the answer is `SeriesReport[<Name>Values]`.
Ratios and percentiles are null where their population is empty.
"""

from __future__ import annotations

import enum
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from kefu_common.timestamps import UtcDateTime
from kefu_gateway.export import ExportQuery
from kefu_gateway.schemas import EscalationLevel, MetricsGroupBy, SafeInput, TicketStatus
from kefu_gateway.series import SeriesQuery

# --- tickets (ticketing service) ------------------------------------------------------


class TicketSeriesQuery(SeriesQuery):
    model_config = ConfigDict(extra="forbid")

    group_by: MetricsGroupBy = Field(
        default=MetricsGroupBy.NONE, description="By the ticket's current team/agent/category/channel"
    )


class ServiceMetricsValues(BaseModel):
    """DOMAIN.md §4 over one span (definitions: docs/reports-contract.md)."""

    closed_tickets: int = Field(description="Tickets closed in the span")
    first_contact_resolved: int = Field(description="Closed in the span and never reopened")
    first_contact_resolution_rate: float | None = Field(
        description="一次性问题解决率: first_contact_resolved ÷ closed_tickets"
    )
    closed_within_72h: int = Field(description="Closed at most 72 h after the first contact")
    closure_rate_72h: float | None = Field(description="closed_within_72h ÷ closed_tickets")
    resolved_tickets: int = Field(description="Tickets resolved in the span")
    proactive_contacts: int = Field(description="Customer-initiated contacts on those tickets")
    average_proactive_contacts: float | None = Field(
        description="平均主动接触频次: proactive_contacts ÷ resolved_tickets"
    )
    repeat_contact_tickets: int = Field(description="Resolved tickets with 2+ proactive contacts")
    repeat_contact_ratio: float | None = Field(
        description="重复主动接触占比: repeat_contact_tickets ÷ resolved_tickets"
    )
    created_tickets: int
    first_response_seconds_median: float | None = Field(
        description="Of the tickets created in the span, from first contact to first response"
    )
    first_response_seconds_p90: float | None
    reopens: int = Field(description="Reopens in the span")
    reopen_rate: float | None = Field(description="reopens ÷ resolved_tickets")


class ResolutionTimeValues(BaseModel):
    resolved_tickets: int = Field(description="Tickets resolved in the span")
    resolution_seconds_median: float | None = Field(
        description="From the first contact to the first resolution in the span (calendar time)"
    )
    resolution_seconds_p90: float | None


class TicketFlowValues(BaseModel):
    created_tickets: int
    resolved_tickets: int
    closed_tickets: int
    reopens: int


class AgeBand(enum.StrEnum):
    H0_4 = "0-4h"
    H4_24 = "4-24h"
    D1_3 = "1-3d"
    D3_7 = "3-7d"
    D7 = "7d+"


class BacklogQuery(SafeInput, ExportQuery):
    model_config = ConfigDict(extra="forbid")

    group_by: MetricsGroupBy = MetricsGroupBy.NONE
    page_size: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, min_length=1, max_length=64)


class BacklogRowPublic(BaseModel):
    group: str = Field(description="Team, agent, category or channel; empty when ungrouped")
    status: TicketStatus  # type: ignore[valid-type]
    age_band: AgeBand = Field(description="Since the first contact")
    tickets: int
    oldest_first_contact_at: UtcDateTime


class BacklogPage(BaseModel):
    as_of: UtcDateTime
    items: list[BacklogRowPublic] = Field(description="By group, status, age band")
    next_cursor: str | None


# --- SLA and escalations (escalation service) -------------------------------------------


class SlaGroupBy(enum.StrEnum):
    NONE = "none"
    TEAM = "team"


class SlaAttainmentQuery(SeriesQuery):
    model_config = ConfigDict(extra="forbid")

    group_by: SlaGroupBy = Field(default=SlaGroupBy.NONE, description="By the ticket's team")


class SlaAttainmentValues(BaseModel):
    """Per target: targets that ended in the span (met, or ended late) and how many were met."""

    first_response_finished: int
    first_response_met: int
    first_response_attainment: float | None
    next_update_finished: int
    next_update_met: int
    next_update_attainment: float | None
    resolution_finished: int
    resolution_met: int
    resolution_attainment: float | None
    escalation_ack_finished: int
    escalation_ack_met: int
    escalation_ack_attainment: float | None
    breaches: int = Field(description="Targets that breached in the span (any target)")


class EscalationValues(BaseModel):
    cycles_opened: int = Field(description="Clock cycles opened in the span (tickets, reopens)")
    tickets_opened: int = Field(description="Tickets with a cycle opened in the span")
    tickets_escalated: int = Field(description="Of those, escalated at least once in the span")
    escalation_rate: float | None = Field(description="tickets_escalated ÷ tickets_opened")
    escalations: int = Field(description="Escalations recorded in the span")
    to_l1: int
    to_l2: int
    to_l3: int


class ClocksAtRiskQuery(SafeInput, ExportQuery):
    model_config = ConfigDict(extra="forbid")

    within_minutes: int = Field(
        default=60, ge=0, le=7 * 24 * 60, description="Running clocks due within this many minutes"
    )
    include_breached: bool = Field(default=True, description="Also breached and unresolved clocks")
    team: str | None = Field(default=None, min_length=1, max_length=64)
    page_size: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, min_length=1, max_length=200)


class ClockAtRiskPublic(BaseModel):
    ticket_id: str
    cycle: int
    target: str = Field(description="first_response, next_update, resolution or escalation_ack")
    due_at: UtcDateTime
    seconds_remaining: int = Field(description="Until due (0 once breached)")
    seconds_overrun: int = Field(description="Since due (0 while not breached)")
    breached: bool
    level: EscalationLevel  # type: ignore[valid-type]
    team: str


class ClocksAtRiskPage(BaseModel):
    as_of: UtcDateTime
    items: list[ClockAtRiskPublic] = Field(description="Soonest due first (most overdue first)")
    next_cursor: str | None


class UnacknowledgedQuery(SafeInput, ExportQuery):
    model_config = ConfigDict(extra="forbid")

    team: str | None = Field(default=None, min_length=1, max_length=64)
    page_size: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, min_length=1, max_length=200)


class UnacknowledgedEscalationPublic(BaseModel):
    id: str
    ticket_id: str
    trigger: str
    from_level: EscalationLevel  # type: ignore[valid-type]
    to_level: EscalationLevel  # type: ignore[valid-type]
    to_party: str
    team: str
    created_at: UtcDateTime
    ack_due_at: UtcDateTime | None
    seconds_waiting: int = Field(description="Since the escalation was raised")
    seconds_to_ack_due: int | None = Field(description="Negative once the acknowledgement is late")
    status: str = Field(description="open, or ack_breached once its acknowledgement is late")


class UnacknowledgedPage(BaseModel):
    as_of: UtcDateTime
    items: list[UnacknowledgedEscalationPublic] = Field(description="Oldest first")
    next_cursor: str | None


# --- QA (scoring service) -----------------------------------------------------------------


class QaGroupBy(enum.StrEnum):
    NONE = "none"
    AGENT = "agent"
    TEAM = "team"
    CATEGORY = "category"
    CHANNEL = "channel"
    RULESET = "ruleset"


class QaSeriesQuery(SeriesQuery):
    model_config = ConfigDict(extra="forbid")

    group_by: QaGroupBy = QaGroupBy.NONE


class QaScoreValues(BaseModel):
    evaluations: int
    score_mean: float | None
    fatal: int = Field(description="Evaluations with a fatal (一票否决) hit")
    grade_a: int
    grade_b: int
    grade_c: int
    grade_d: int
    satisfaction_mean: float | None = Field(
        default=None, description="Mean predicted satisfaction (1..5) of the evaluations (issue #16)"
    )
    predicted_satisfied: int = Field(default=0, description="Evaluations predicted satisfied (>= 3.5)")
    predicted_detractors: int = Field(default=0, description="Evaluations predicted detractors (< 2.5)")


class QaDistributionQuery(SeriesQuery):
    model_config = ConfigDict(extra="forbid")

    group_by: QaGroupBy = QaGroupBy.AGENT
    bin_width: int = Field(default=10, ge=1, le=100, description="Histogram bin width in points")


class QaDistributionRow(BaseModel):
    group: str
    bucket_start: date
    bucket_end: date
    bin_start: float = Field(description="Scores in [bin_start, bin_end); 100 is in the last bin")
    bin_end: float
    evaluations: int
    previous_evaluations: int | None = Field(description="Same bin over the previous span")


class QaDistributionReport(BaseModel):
    start: date
    end: date
    tz: str
    group_by: QaGroupBy
    bin_width: int
    items: list[QaDistributionRow] = Field(description="Every bin of every bucket of every group")


class RuleRankingQuery(SeriesQuery):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=500, description="Top rules by hits in the range")


class RuleHitValues(BaseModel):
    hits: int = Field(description="Hits of the rule in the span")
    evaluations_hit: int = Field(description="Evaluations with at least one hit of the rule")
    evaluations: int = Field(description="Evaluations scored in the span")
    share_of_evaluations: float | None = Field(description="evaluations_hit ÷ evaluations")
