"""Bucket arithmetic of every report (docs/reports-contract.md): the one implementation.

A report covers the calendar dates `[start, end)` of a caller's IANA time zone (local midnight
to local midnight, so a DST zone has 23/25-hour days) cut into buckets of a day, an ISO week
(Monday first) or a calendar month, or one bucket for the whole range (`none`). The first and
last buckets are clipped to the range; a week that crosses a month belongs to the week.

Each bucket may carry its *previous* span: the calendar month before for a whole month bucket,
otherwise the span of the same number of days just before it (the day before, the week before,
the range before a `none` bucket, the same-length span before a clipped bucket).

Services never recompute boundaries: they receive the range (`kefu.common.v1.ReportRange`),
call `plan()` and join rows on their local day to the days of each span (`SPANS_SQL`,
`in_spans()`, `sql_params()`), so SQL and Python agree by construction. Gateways call `plan()`
too, to label the buckets and keep empty ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kefu_common.errors import InvalidArgument

DEFAULT_TZ = "Asia/Shanghai"
MAX_RANGE_DAYS = 366


class BucketUnit(StrEnum):
    NONE = "none"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Compare(StrEnum):
    PREVIOUS = "previous"
    NONE = "none"


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; unknown → InvalidArgument `invalid_time_zone`."""
    try:
        if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidArgument(
            f"unknown time zone {name!r} (use an IANA name such as Asia/Shanghai)",
            code="invalid_time_zone",
        ) from exc


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which `day` begins in `tz`; outside the instants Python can hold
    (the first day of year 1 east of Greenwich) → InvalidArgument `invalid_range`."""
    try:
        return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    except OverflowError as exc:
        raise InvalidArgument(f"{day.isoformat()} in {tz.key} is outside the calendar", code="invalid_range") from exc


def _first_of_next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def _first_of_previous_month(day: date) -> date:
    return date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Span:
    """Local calendar dates `[start, end)`."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def utc(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The UTC instants `[start 00:00, end 00:00)` of this span in `tz`."""
        return local_midnight(self.start, tz), local_midnight(self.end, tz)

    def before(self) -> Span:
        """The span of the same number of days just before this one."""
        return Span(self.start - timedelta(days=self.days), self.start)


@dataclass(frozen=True, slots=True)
class Bucket:
    index: int
    span: Span
    clipped: bool
    previous: Span | None


@dataclass(frozen=True, slots=True)
class Plan:
    """The buckets of one report request."""

    start: date
    end: date
    tz: ZoneInfo
    unit: BucketUnit
    compare: Compare
    buckets: tuple[Bucket, ...]

    @property
    def tz_name(self) -> str:
        return self.tz.key

    def utc_bounds(self) -> tuple[datetime, datetime]:
        """The UTC instants covering every span, previous ones included."""
        first = min(
            (b.previous.start for b in self.buckets if b.previous is not None), default=self.start
        )
        return local_midnight(min(first, self.start), self.tz), local_midnight(self.end, self.tz)

    def spans(self) -> list[tuple[int, bool, Span]]:
        """(bucket index, is previous, span) of every span the report aggregates over."""
        out: list[tuple[int, bool, Span]] = []
        for b in self.buckets:
            out.append((b.index, False, b.span))
            if b.previous is not None:
                out.append((b.index, True, b.previous))
        return out

    def sql_params(self) -> dict[str, object]:
        """Bind parameters of `SPANS_SQL` and `in_spans()`: every local day of every span with
        the span it belongs to, the zone, the UTC bounds of the whole and the UTC instant at
        which each local day of the whole begins."""
        days: list[date] = []
        idx: list[int] = []
        prev: list[bool] = []
        for i, is_prev, span in self.spans():
            for n in range(span.days):
                days.append(span.start + timedelta(days=n))
                idx.append(i)
                prev.append(is_prev)
        lo, hi = self.utc_bounds()
        return {"tz": self.tz_name, "lo": lo, "hi": hi,
                "span_day": days, "span_idx": idx, "span_prev": prev} | _day_numbers(days, self.tz)


def _day_numbers(days: list[date], tz: ZoneInfo) -> dict[str, object]:
    """`span_n`: each day's number from the first (1-based), and `day_bounds`: the UTC instant
    each day from the first to the day after the last begins, for `width_bucket` (`in_spans`)."""
    first = min(days)
    count = (max(days) - first).days + 1
    return {"span_n": [(d - first).days + 1 for d in days],
            "day_bounds": [local_midnight(first + timedelta(days=n), tz) for n in range(count + 1)]}


# The spans of a plan as a relation `s(day, idx, prev, n)`: one row per local day of each span
# (a day may belong to a bucket and to the previous span of a later one), `n` numbering the
# days of the whole range from 1. Rows join it on the number of their local day,
# `s.n = width_bucket(ts, day_bounds)`: a binary search among the UTC instants at which the
# local days begin (computed once, in Python, by `local_midnight`), an equality, so PostgreSQL
# hashes the few hundred span days and reads the rows once without converting each timestamp
# to the zone (`ts AT TIME ZONE tz` per row costs more than the rest of a report's work).
SPANS_SQL = (
    "SELECT * FROM unnest(CAST(:span_day AS date[]), CAST(:span_idx AS int[]), "
    "CAST(:span_prev AS boolean[]), CAST(:span_n AS int[])) AS s(day, idx, prev, n)"
)


# Run first in the transaction of a report statement: its plan costs look high (set-returning
# functions, misestimated day joins) and JIT compilation would cost more than the query itself;
# a month of tickets is hundreds of thousands of (span, ticket) groups, which 4 MB of work_mem
# would hash in batches on disk. Both settings end with the transaction.
REPORT_SETTINGS = "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"


def in_bounds(ts: str) -> str:
    """SQL: `ts` within the plan's UTC bounds (an index range)."""
    return f"{ts} >= :lo AND {ts} < :hi"


def day_number(ts: str) -> str:
    """SQL: the number (`s.n`) of the local day `ts` falls on, for `ts` within the bounds."""
    return f"width_bucket({ts}, CAST(:day_bounds AS timestamptz[]))"


def in_spans(ts: str, alias: str = "s") -> str:
    """SQL join condition: `ts` within the plan's bounds (index range) and on a day of `alias`
    (the day whose local midnights enclose it: `CAST(ts AT TIME ZONE tz AS date)`, computed
    without converting `ts`)."""
    return f"{in_bounds(ts)} AND {alias}.n = {day_number(ts)}"


def instant_params(start: datetime, end: datetime) -> dict[str, object]:
    """`sql_params()` of one span of arbitrary UTC instants `[start, end)` (no previous): its
    UTC days, clipped by the bounds."""
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return {"tz": "UTC", "lo": start, "hi": end, "span_day": days,
            "span_idx": [0] * len(days), "span_prev": [False] * len(days)} | _day_numbers(days, ZoneInfo("UTC"))


def _unit_end(day: date, unit: BucketUnit, end: date) -> date:
    if unit is BucketUnit.DAY:
        nxt = day + timedelta(days=1)
    elif unit is BucketUnit.WEEK:
        nxt = day + timedelta(days=7 - day.weekday())
    elif unit is BucketUnit.MONTH:
        nxt = _first_of_next_month(day)
    else:
        nxt = end
    return min(nxt, end)


def _is_whole(span: Span, unit: BucketUnit) -> bool:
    if unit is BucketUnit.DAY:
        return True
    if unit is BucketUnit.WEEK:
        return span.start.weekday() == 0 and span.days == 7
    if unit is BucketUnit.MONTH:
        return span.start.day == 1 and span.end == _first_of_next_month(span.start)
    return True


def previous_of(span: Span, unit: BucketUnit) -> Span:
    """The previous span of a bucket: the calendar month before a whole month, else the
    same number of days just before."""
    if unit is BucketUnit.MONTH and _is_whole(span, unit):
        return Span(_first_of_previous_month(span.start), span.start)
    return span.before()


def plan(
    start: date,
    end: date,
    *,
    tz: str | ZoneInfo = DEFAULT_TZ,
    unit: BucketUnit | str = BucketUnit.NONE,
    compare: Compare | str = Compare.PREVIOUS,
    max_days: int = MAX_RANGE_DAYS,
) -> Plan:
    """Cut `[start, end)` (local dates of `tz`) into buckets; invalid input → InvalidArgument."""
    zi = tz if isinstance(tz, ZoneInfo) else zone(tz)
    try:
        unit = BucketUnit(unit)
        compare = Compare(compare)
    except ValueError as exc:
        raise InvalidArgument(str(exc), code="invalid_argument") from exc
    if end <= start:
        raise InvalidArgument("end must be after start", code="invalid_range")
    if (end - start).days > max_days:
        raise InvalidArgument(f"a range spans at most {max_days} days", code="invalid_range")
    if start.year < 2 or end.year > 9998:
        raise InvalidArgument("dates out of range", code="invalid_range")
    buckets: list[Bucket] = []
    day = start
    while day < end:
        nxt = _unit_end(day, unit, end)
        span = Span(day, nxt)
        clipped = unit is not BucketUnit.NONE and not _is_whole(span, unit)
        previous = previous_of(span, unit) if compare is Compare.PREVIOUS else None
        buckets.append(Bucket(len(buckets), span, clipped, previous))
        day = nxt
    out = Plan(start, end, zi, unit, compare, tuple(buckets))
    out.utc_bounds()  # a previous span that leaves the calendar is invalid_range here, not a 500 later
    return out
