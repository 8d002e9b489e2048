"""Bodies and queries of the review queue (复核 / 申诉): lists of evaluations and appeals."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kefu_common.timestamps import UtcDateTime
from kefu_gateway.bounds import PeriodBounds
from kefu_gateway.export import ExportQuery
from kefu_gateway.schemas import AppealPublic

Grade = Literal["A", "B", "C", "D"]


class EvaluationListQuery(PeriodBounds, ExportQuery):
    """Filters of `GET /v1/qa/evaluations` and `GET /v1/qa/review-queue`."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(default="", max_length=128, description="Ignored for agents: always themselves")
    team: str = Field(default="", max_length=64)
    ruleset_id: str = Field(default="", max_length=64)
    ruleset_version: int = Field(default=0, ge=0, le=2**31 - 1, description="0: any version")
    grade: list[Grade] = Field(default_factory=list, description="Any of these grades (repeat the parameter)")
    min_score: float | None = Field(default=None, ge=0, le=100, description="AI total score at least")
    max_score: float | None = Field(default=None, ge=0, le=100, description="AI total score at most")
    rule_id: str = Field(default="", max_length=128, description="Only evaluations with a hit of this rule")
    fatal: bool | None = None
    reviewed: bool | None = Field(default=None, description="true: some hit has a review decision")
    open_appeal: bool | None = Field(default=None, description="true: some hit has an open appeal")
    page_size: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=256, description="`next_cursor` of the previous page")


class ReviewQueueQuery(EvaluationListQuery):
    share: float = Field(
        default=0.1, ge=0, le=1,
        description="Share of the evaluations without fatal hits or risk flags to sample",
    )
    seed: str = Field(
        default="", max_length=128,
        description="Same seed and data, same sample (e.g. the day's date); another seed, another sample",
    )


class EvaluationSummaryPublic(BaseModel):
    id: str
    ticket_id: str
    agent_id: str
    team: str
    total_score: float
    grade: str
    fatal: bool
    hit_count: int
    risk_flags: list[str]
    reviewed: bool
    reviewed_hits: int
    open_appeals: int
    created_at: UtcDateTime
    conversation_id: str
    ruleset_id: str
    ruleset_version: int
    category: str
    channel: str
    reason: str = Field(default="", description="Review queue only: fatal, risk or sampled")


class EvaluationSummaryPage(BaseModel):
    items: list[EvaluationSummaryPublic]
    next_cursor: str | None = None


class AppealListQuery(ExportQuery):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "upheld", "rejected", "all"] = "open"
    evaluation_id: str = Field(default="", max_length=64)
    appellant: str = Field(default="", max_length=128, description="Ignored for agents: always themselves")
    page_size: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=256)


class AppealSummaryPublic(AppealPublic):
    ticket_id: str
    agent_id: str
    team: str
    rule_id: str


class AppealPage(BaseModel):
    items: list[AppealSummaryPublic]
    next_cursor: str | None = None
