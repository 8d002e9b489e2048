"""Bodies and queries of customer satisfaction: ratings (CSAT 1-5, optional NPS 0-10) and the
CSAT report (DOMAIN.md §4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kefu_common.timestamps import UtcDateTime
from kefu_gateway.bounds import PeriodBounds
from kefu_gateway.export import ExportQuery
from kefu_gateway.schemas import MetricsGroupBy, Strict, TicketList
from kefu_gateway.series import SeriesQuery


class RatingCreate(Strict):
    score: int = Field(ge=1, le=5, description="CSAT: 1 (very dissatisfied) .. 5 (very satisfied)")
    comment: str = Field(default="", max_length=1000)
    nps: int | None = Field(default=None, ge=0, le=10, description="Optional: how likely to recommend us, 0..10")


class CaseRatingPublic(BaseModel):
    """A rating as the customer (or the partner that posted it) sees it: no staff fields."""

    id: str
    ticket_id: str
    cycle: int = Field(description="The ticket cycle rated (1, then 2 after a reopen, ...)")
    revision: int = Field(description="1 for the cycle's first rating, +1 for each change; the latest counts")
    score: int
    nps: int | None = None
    comment: str
    source: Literal["customer", "partner"]
    created_at: UtcDateTime
    changeable_until: UtcDateTime = Field(description="Until when this cycle's rating may still be changed")


class RatingPublic(CaseRatingPublic):
    """A rating as staff see it."""

    rater: str
    dissatisfied: bool = Field(description="At or below the dissatisfied threshold: a signal to escalation")
    team: str = Field(description="The ticket's team when rated")
    agent_id: str = Field(description="The ticket's assignee when rated")
    category: str
    channel: str


class RatingList(BaseModel):
    items: list[RatingPublic] = Field(description="Every revision of every cycle, oldest first")


class ReopenCandidateList(TicketList):
    reopen_proposed: list[str] = Field(
        default_factory=list,
        description="Ids of the candidates whose last cycle was rated dissatisfied: reopening is proposed",
    )


class CsatQuery(SeriesQuery):
    model_config = ConfigDict(extra="forbid")

    group_by: MetricsGroupBy = Field(
        default=MetricsGroupBy.NONE,
        description="By the ticket's team / assignee / category / channel when it was rated",
    )


class CsatValues(BaseModel):
    """DOMAIN.md §4 over one span: the ticket cycles whose latest rating was given in it."""

    ratings: int = Field(description="Ticket cycles rated (the latest rating of each counts)")
    satisfied: int = Field(description="Rated 4 or 5")
    csat: float | None = Field(description="satisfied ÷ ratings")
    average_score: float | None = Field(description="Mean CSAT score 1..5")
    nps_responses: int = Field(description="Ratings that answered the NPS question")
    promoters: int = Field(description="NPS 9-10")
    detractors: int = Field(description="NPS 0-6")
    nps: float | None = Field(description="% promoters − % detractors, −100..100")

    @classmethod
    def empty(cls) -> CsatValues:
        return cls(ratings=0, satisfied=0, csat=None, average_score=None, nps_responses=0, promoters=0,
                   detractors=0, nps=None)

    @classmethod
    def of(cls, *, ratings: int, satisfied: int, score_sum: int, nps_responses: int, promoters: int,
           detractors: int) -> CsatValues:
        return cls(
            ratings=ratings, satisfied=satisfied,
            csat=round(satisfied / ratings, 4) if ratings else None,
            average_score=round(score_sum / ratings, 4) if ratings else None,
            nps_responses=nps_responses, promoters=promoters, detractors=detractors,
            nps=round((promoters - detractors) * 100 / nps_responses, 2) if nps_responses else None,
        )


class RatingListQuery(PeriodBounds, ExportQuery):
    """Filters of `GET /v1/ratings`: the ratings that count, by when they were given."""

    model_config = ConfigDict(extra="forbid")

    team: str = Field(default="", max_length=64)
    agent_id: str = Field(default="", max_length=64)
    category: str = Field(default="", max_length=64)
    channel: str = Field(default="", max_length=16)
    min_score: int | None = Field(default=None, ge=1, le=5)
    max_score: int | None = Field(default=None, ge=1, le=5, description="e.g. 2: the dissatisfied ones")
    page_size: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=256)


class RatingPage(BaseModel):
    items: list[RatingPublic] = Field(description="Each cycle's latest rating, newest first")
    next_cursor: str | None = None
