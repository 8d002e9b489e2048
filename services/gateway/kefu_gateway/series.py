"""The JSON shape of every series report (docs/reports-contract.md) and its assembly.

A report route takes a query derived from `SeriesQuery` (start/end/tz/bucket/compare plus its
own `group_by`), calls `query.plan()` (kefu_common.periods), sends `report_range(plan)` to the
owning service, and builds its answer with `build_series(plan, ...)` from the figures the
service returned keyed by (group, bucket index, previous?). Every bucket is present in every
group (missing figures are the report's `empty()` values: zero counts, null ratios).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from kefu_common import periods
from kefu_common.periods import BucketUnit, Compare, Plan
from kefu_gateway.export import ExportQuery
from kefu_gateway.schemas import SafeInput

V = TypeVar("V", bound=BaseModel)


class SeriesQuery(SafeInput, ExportQuery):
    """The parameters shared by every `GET /v1/reports/...` series route."""

    start: date = Field(description="First local date of the range (inclusive), `YYYY-MM-DD`")
    end: date = Field(description="Local date after the range (exclusive); at most 366 days")
    tz: str = Field(
        default=periods.DEFAULT_TZ, min_length=1, max_length=64, description="IANA time zone"
    )
    bucket: BucketUnit = Field(
        default=BucketUnit.NONE,
        description="`day`, `week` (ISO, Monday first), `month`, or `none` (the whole range)",
    )
    compare: Compare = Field(
        default=Compare.PREVIOUS,
        description="`previous`: each bucket also carries its previous span's figures",
    )

    def plan(self) -> Plan:
        return periods.plan(self.start, self.end, tz=self.tz, unit=self.bucket, compare=self.compare)


class SeriesBucket(BaseModel, Generic[V]):
    start: date = Field(description="First local date (inclusive)")
    end: date = Field(description="Local date after the bucket (exclusive)")
    clipped: bool = Field(description="Shorter than its unit: cut by the range's start or end")
    values: V
    previous_start: date | None = Field(description="The previous span; null with compare=none")
    previous_end: date | None
    previous: V | None = Field(description="The same figures over the previous span")


class SeriesGroup(BaseModel, Generic[V]):
    group: str = Field(description="Team, agent, category, channel…; empty when ungrouped")
    buckets: list[SeriesBucket[V]] = Field(description="Every bucket of the range, in order")


class SeriesReport(BaseModel, Generic[V]):
    start: date
    end: date
    tz: str
    bucket: BucketUnit
    group_by: str
    compare: Compare
    series: list[SeriesGroup[V]]


Figures = Iterable[tuple[str, int, bool, V]]


def build_series(
    plan: Plan,
    group_by: str,
    figures: Figures,
    empty: Callable[[], V],
    *,
    order: Callable[[dict[tuple[str, int, bool], V]], list[str]] | None = None,
) -> SeriesReport[V]:
    """Assemble the answer: every group (one `""` group when ungrouped) × every bucket.
    Groups are in code-point order unless `order` picks (and orders) them from the figures."""
    by_key: dict[tuple[str, int, bool], V] = {}
    for group, index, previous, values in figures:
        by_key[(group, index, previous)] = values
    groups = order(by_key) if order is not None else sorted({k[0] for k in by_key})
    if group_by == "none":
        groups = [""]
    series = []
    for group in groups:
        buckets = []
        for b in plan.buckets:
            prev = b.previous
            buckets.append(
                SeriesBucket(
                    start=b.span.start,
                    end=b.span.end,
                    clipped=b.clipped,
                    values=by_key.get((group, b.index, False)) or empty(),
                    previous_start=prev.start if prev else None,
                    previous_end=prev.end if prev else None,
                    previous=(by_key.get((group, b.index, True)) or empty()) if prev else None,
                )
            )
        series.append(SeriesGroup(group=group, buckets=buckets))
    return SeriesReport(
        start=plan.start,
        end=plan.end,
        tz=plan.tz_name,
        bucket=plan.unit,
        group_by=group_by,
        compare=plan.compare,
        series=series,
    )
