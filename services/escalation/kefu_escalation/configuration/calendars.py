"""Business calendars and exact business-time arithmetic (issue 4, DOMAIN.md §2).

Pure: no database, no I/O. SLA targets are durations of *business time* of a calendar; this
module answers "when have 8 business hours passed after t?" (`add`) and "how much business
time lies in [a, b)?" (`elapsed`), exact to the microsecond.

Definitions (each one is what the tests check against a minute-by-minute reference):

* **Working intervals** are local wall-clock ``[start, end)`` pairs per weekday (0=Mon..6=Sun),
  sorted and non-overlapping; several a day express a lunch break. ``end == time(0)`` means
  24:00 (the end of that day); ``start == time(0)`` is 00:00. ``(time(0), time(0))`` is the
  whole day.
* **A local date's hours**: its ``extra_workdays`` entry if any (调休 make-up workdays, which
  work even on a weekend), else nothing if it is in ``holidays``, else its weekday's hours.
  A date may not be both a holiday and an extra workday (refused as ambiguous).
* **DST and folds.** A local wall-clock time L becomes the *first instant at which the local
  clock reads L or later*:
    - an ordinary time converts as usual;
    - an ambiguous time (fall back, the hour that happens twice) takes its first
      occurrence (``fold=0``);
    - a nonexistent time (spring forward gap) takes the transition instant, i.e. the end
      of the gap (neither fold: ``fold=0`` would jump past the gap and ``fold=1`` back
      before it, and both could turn an interval inside out).
  This mapping never decreases, so every working interval is one contiguous real span,
  adjacent intervals tile with no gap and no overlap, and an interval covering a shift is
  that much shorter or longer in real time (a 00:00–12:00 day is 11 h on spring-forward day
  and 13 h on fall-back day; a 24x7 day is 23 h or 25 h). Time zones are assumed to change
  offset at most once within any interval boundary's gap, which holds for tzdata.
* ``add(start, d)`` is the earliest instant T >= start with ``elapsed(start, T) == d``. So
  ``add(start, 0) == start`` (not moved to the next working instant) and a duration that runs
  out exactly at an interval's end returns that end (18:00, not the next morning's 09:00).
* ``elapsed(a, b)`` is the business time in ``[a, b)``; zero when ``b <= a``.

Inputs must be timezone-aware; results are aware UTC datetimes. Both operations walk the
calendar one local date at a time (a few ``zoneinfo`` conversions per working interval), so
their cost grows with the number of calendar days spanned, never with the duration's size in
minutes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["BusinessCalendar"]

_ZERO = timedelta(0)
_DAY = timedelta(days=1)
_MIDNIGHT = time(0)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Interval = tuple[time, time]
_Offsets = tuple[tuple[timedelta, timedelta], ...]  # [start, end) as offsets from local 00:00


def _since_midnight(t: time) -> timedelta:
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


def _fmt(t: time, *, end: bool = False) -> str:
    return "24:00" if end and t == _MIDNIGHT else t.isoformat()


def _normalise_day(where: str, intervals: Any) -> tuple[tuple[Interval, ...], _Offsets]:
    """Check one day's intervals; return them as (time, time) tuples and as offsets."""
    if isinstance(intervals, (str, bytes)) or not isinstance(intervals, Sequence):
        raise ValueError(f"{where}: intervals must be a sequence of (start, end) time pairs")
    pairs: list[Interval] = []
    offsets: list[tuple[timedelta, timedelta]] = []
    for item in intervals:
        if not (isinstance(item, Sequence) and len(item) == 2):
            raise ValueError(f"{where}: {item!r} is not a (start, end) pair")
        start, end = item
        if not (isinstance(start, time) and isinstance(end, time)):
            raise ValueError(f"{where}: interval {item!r} must hold two datetime.time values")
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"{where}: interval times are local wall-clock times, not tz-aware")
        lo = _since_midnight(start)
        hi = _DAY if end == _MIDNIGHT else _since_midnight(end)
        if lo >= hi:
            raise ValueError(
                f"{where}: interval {_fmt(start)}-{_fmt(end, end=True)} is empty or reversed "
                "(start must be before end; end 00:00 means 24:00)"
            )
        if offsets:
            prev_lo, prev_hi = offsets[-1]
            prev = f"{_fmt(pairs[-1][0])}-{_fmt(pairs[-1][1], end=True)}"
            this = f"{_fmt(start)}-{_fmt(end, end=True)}"
            if lo < prev_lo:
                raise ValueError(f"{where}: intervals are unsorted ({this} comes after {prev})")
            if lo < prev_hi:
                raise ValueError(f"{where}: intervals {prev} and {this} overlap")
        pairs.append((start.replace(fold=0), end.replace(fold=0)))
        offsets.append((lo, hi))
    return tuple(pairs), tuple(offsets)


@dataclass(frozen=True)
class BusinessCalendar:
    """Working hours in a time zone, with holidays and make-up workdays. See module doc."""

    name: str
    tz: str
    weekly: Mapping[int, Sequence[Interval]]
    holidays: frozenset[date] = frozenset()
    extra_workdays: Mapping[date, Sequence[Interval]] = field(default_factory=dict)

    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _week: tuple[_Offsets, ...] = field(init=False, repr=False, compare=False)
    _extra: Mapping[date, _Offsets] = field(init=False, repr=False, compare=False)
    _always: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        label = f"calendar {self.name!r}"
        try:
            zone = ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise ValueError(f"{label}: unknown time zone {self.tz!r}") from exc

        if not isinstance(self.weekly, Mapping):
            raise ValueError(f"{label}: weekly must map weekday 0=Mon..6=Sun to intervals")
        bad_keys = [k for k in self.weekly if not (isinstance(k, int) and 0 <= k <= 6)]
        if bad_keys:
            raise ValueError(f"{label}: weekly keys must be weekdays 0=Mon..6=Sun, got {bad_keys}")
        weekly: dict[int, tuple[Interval, ...]] = {}
        week: list[_Offsets] = []
        for wd in range(7):
            pairs, offsets = _normalise_day(f"{label}, {_WEEKDAYS[wd]}", self.weekly.get(wd, ()))
            weekly[wd] = pairs
            week.append(offsets)
        if not any(week):
            raise ValueError(
                f"{label}: no working hours on any weekday; business time would never pass "
                "(use BusinessCalendar.always() for 24x7)"
            )

        holidays = frozenset(self.holidays)
        if not all(isinstance(d, date) and not isinstance(d, datetime) for d in holidays):
            raise ValueError(f"{label}: holidays must be datetime.date values")

        if not isinstance(self.extra_workdays, Mapping):
            raise ValueError(f"{label}: extra_workdays must map dates to intervals")
        extra_pairs: dict[date, tuple[Interval, ...]] = {}
        extra: dict[date, _Offsets] = {}
        for d in sorted(self.extra_workdays):
            if not isinstance(d, date) or isinstance(d, datetime):
                raise ValueError(f"{label}: extra workday {d!r} must be a datetime.date")
            where = f"{label}, extra workday {d.isoformat()}"
            pairs, offsets = _normalise_day(where, self.extra_workdays[d])
            if not offsets:
                raise ValueError(f"{where}: has no hours (a day off belongs in holidays)")
            extra_pairs[d], extra[d] = pairs, offsets
        both = sorted(holidays & extra.keys())
        if both:
            days = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"{label}: {days} is both a holiday and an extra workday")

        set_ = object.__setattr__
        set_(self, "weekly", MappingProxyType(weekly))
        set_(self, "holidays", holidays)
        set_(self, "extra_workdays", MappingProxyType(extra_pairs))
        set_(self, "_zone", zone)
        set_(self, "_week", tuple(week))
        set_(self, "_extra", MappingProxyType(extra))
        # Every day fully working and no exceptions: business time is real time (a fast path).
        full = ((timedelta(0), timedelta(days=1)),)
        set_(self, "_always", not holidays and not extra and all(tuple(day) == full for day in week))

    def __hash__(self) -> int:
        return hash(
            (
                self.name,
                self.tz,
                tuple(self.weekly.items()),
                self.holidays,
                tuple(self.extra_workdays.items()),
            )
        )

    # ----------------------------------------------------------------------------- builders

    @classmethod
    def always(cls, name: str = "24x7", tz: str = "UTC") -> BusinessCalendar:
        """Every instant is business time (24x7): business time equals real elapsed time."""
        return cls(name=name, tz=tz, weekly={wd: [(_MIDNIGHT, _MIDNIGHT)] for wd in range(7)})

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> BusinessCalendar:
        """Build from plain data (JSON/config), e.g.::

            {"name": "cn-office", "tz": "Asia/Shanghai",
             "weekly": {"mon": ["09:00-12:00", "13:30-18:00"], ...},   # or keys 0..6
             "holidays": ["2026-10-01"],
             "extra_workdays": {"2026-10-10": ["09:00-18:00"]}}

        Times are HH:MM or HH:MM:SS; an end of 24:00 means the end of the day.
        """
        name = str(spec.get("name", ""))
        label = f"calendar {name!r}"
        unknown = set(spec) - {"name", "tz", "weekly", "holidays", "extra_workdays"}
        if unknown:
            raise ValueError(f"{label}: unknown keys {sorted(unknown)}")
        if "tz" not in spec or "weekly" not in spec:
            raise ValueError(f"{label}: 'tz' and 'weekly' are required")

        def day(key: Any) -> int:
            if isinstance(key, int) and 0 <= key <= 6:
                return key
            if isinstance(key, str) and key.lower()[:3] in _WEEKDAYS:
                return _WEEKDAYS.index(key.lower()[:3])
            raise ValueError(f"{label}: {key!r} is not a weekday (mon..sun or 0..6)")

        def on(key: Any) -> date:
            try:
                return date.fromisoformat(str(key))
            except ValueError as exc:
                raise ValueError(f"{label}: {key!r} is not an ISO date (YYYY-MM-DD)") from exc

        weekly = {day(k): [_parse_interval(label, s) for s in v] for k, v in spec["weekly"].items()}
        return cls(
            name=name,
            tz=str(spec["tz"]),
            weekly=weekly,
            holidays=frozenset(on(d) for d in spec.get("holidays", ())),
            extra_workdays={
                on(d): [_parse_interval(label, s) for s in v]
                for d, v in spec.get("extra_workdays", {}).items()
            },
        )

    # ----------------------------------------------------------------------------- queries

    def hours_on(self, day: date) -> tuple[Interval, ...]:
        """The local working intervals of one local date (after holidays and make-up days)."""
        if day in self.extra_workdays:
            return tuple(self.extra_workdays[day])
        if day in self.holidays:
            return ()
        return tuple(self.weekly[day.weekday()])

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant at which `duration` of business time has passed after `start`.

        ``duration == 0`` returns `start` itself (as UTC). Negative durations are refused.
        """
        if duration < _ZERO:
            raise ValueError(f"duration must not be negative, got {duration}")
        begin = _utc(start, "start")
        if duration == _ZERO or self._always:
            return begin + duration
        remaining = duration
        for lo, hi in self._spans(begin):
            span = hi - lo
            if span >= remaining:
                return lo + remaining
            remaining -= span
        raise AssertionError("unreachable: a validated calendar has working time every week")

    def elapsed(self, a: datetime, b: datetime) -> timedelta:
        """Business time in ``[a, b)``; zero if ``b <= a``."""
        lo_bound, hi_bound = _utc(a, "a"), _utc(b, "b")
        total = _ZERO
        if hi_bound <= lo_bound:
            return total
        if self._always:
            return hi_bound - lo_bound
        for lo, hi in self._spans(lo_bound):
            if lo >= hi_bound:
                break
            total += min(hi, hi_bound) - lo
        return total

    def is_working(self, at: datetime) -> bool:
        """Whether the instant `at` is business time (the instant just after it counts)."""
        instant = _utc(at, "at")
        for lo, _hi in self._spans(instant):
            return lo == instant
        return False  # pragma: no cover - _spans never ends

    def next_working(self, at: datetime) -> datetime:
        """`at` itself if it is business time, else the start of the next working span."""
        for lo, _hi in self._spans(_utc(at, "at")):
            return lo
        raise AssertionError("unreachable: a validated calendar has working time every week")

    # ----------------------------------------------------------------------------- internals

    def _spans(self, after: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working spans as UTC [lo, hi), in order, those ending after `after`, clipped to it."""
        zone = self._zone
        # An instant whose wall clock shows date D can only lie in spans of D or later dates
        # (the span of D-1 ends when the clock first reads D 00:00); one day earlier is slack.
        day = after.astimezone(zone).date() - _DAY
        week, extra, holidays = self._week, self._extra, self.holidays
        while True:
            if day in extra:
                offsets = extra[day]
            elif day in holidays:
                offsets = ()
            else:
                offsets = week[day.weekday()]
            if offsets:
                midnight = datetime(day.year, day.month, day.day)
                for lo_off, hi_off in offsets:
                    hi = _first_instant(zone, midnight + hi_off)
                    if hi <= after:
                        continue
                    lo = _first_instant(zone, midnight + lo_off)
                    if lo < hi:
                        yield (lo if lo > after else after), hi
            day += _DAY


def _first_instant(zone: ZoneInfo, local: datetime) -> datetime:
    """The first UTC instant at which the wall clock in `zone` reads `local` (naive) or later."""
    early = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if early <= late:
        return early  # unambiguous (equal), or repeated (fold=0 is the first occurrence)
    # In a spring-forward gap: fold=1 reads the post-gap offset and lands before the
    # transition, fold=0 the pre-gap offset and lands after it. The answer is the transition:
    # the first instant in (late, early] whose offset is the post-gap one.
    pre_gap = late.astimezone(zone).utcoffset()
    lo, hi = late, early  # lo carries the pre-gap offset, hi the post-gap one
    while hi - lo > timedelta(microseconds=1):
        mid = lo + (hi - lo) // 2
        if mid.astimezone(zone).utcoffset() == pre_gap:
            lo = mid
        else:
            hi = mid
    return hi


def _utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


_HHMM = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"
_INTERVAL = re.compile(rf"^\s*{_HHMM}\s*-\s*{_HHMM}\s*$")


def _parse_interval(label: str, text: Any) -> Interval:
    m = _INTERVAL.match(str(text))
    if not m:
        raise ValueError(f"{label}: {text!r} is not an interval like '09:00-18:00'")
    h1, m1, s1, h2, m2, s2 = (int(g) if g else 0 for g in m.groups())
    try:
        start = time(h1, m1, s1)
        end = _MIDNIGHT if (h2, m2, s2) == (24, 0, 0) else time(h2, m2, s2)
    except ValueError as exc:
        raise ValueError(f"{label}: {text!r} holds an impossible time") from exc
    return start, end
