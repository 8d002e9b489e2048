"""Bucket arithmetic of every report (docs/reports-contract.md): the one implementation.

A report covers the calendar dates `[start, end)` of a caller's IANA time zone (local midnight
to local midnight, so a DST zone has 23/25-hour days) cut into buckets of a day, an ISO week
(Monday first) or a calendar month, or one bucket for the whole range (`none`). The first and
last buckets are clipped to the range; a week that crosses a month belongs to the week.

Each bucket may carry its *previous* span: the calendar month before for a whole month bucket,
otherwise the span of the same number of days just before it (the day before, the week before,
the range before a `none` bucket, the same-length span before a clipped bucket).

Services never recompute boundaries: they receive the range (`kefu.common.v1.ReportRange`),
call `plan()` and filter rows by the UTC instants of each span (`SPANS_SQL` + `sql_params()`),
so SQL and Python agree by construction. Gateways call `plan()` too, to label the buckets and
keep empty ones.
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
    """The UTC instant at which `day` begins in `tz`."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


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

    def sql_params(self) -> dict[str, list]:
        """Bind parameters of `SPANS_SQL`: one row per span with its UTC instants."""
        idx: list[int] = []
        prev: list[bool] = []
        lo: list[datetime] = []
        hi: list[datetime] = []
        for i, is_prev, span in self.spans():
            a, b = span.utc(self.tz)
            idx.append(i)
            prev.append(is_prev)
            lo.append(a)
            hi.append(b)
        return {"span_idx": idx, "span_prev": prev, "span_lo": lo, "span_hi": hi}


# The spans of a plan as a relation `s(idx, prev, lo, hi)`: join rows on `ts >= s.lo AND
# ts < s.hi` (a row may fall in one bucket and in the previous span of the next one).
SPANS_SQL = (
    "SELECT * FROM unnest(CAST(:span_idx AS int[]), CAST(:span_prev AS boolean[]), "
    "CAST(:span_lo AS timestamptz[]), CAST(:span_hi AS timestamptz[])) AS s(idx, prev, lo, hi)"
)


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
    return Plan(start, end, zi, unit, compare, tuple(buckets))
