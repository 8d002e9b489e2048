"""Business calendars (issue 4): add() and elapsed() are exact, DST-correct, and agree with a
brute-force reference that walks minute by minute."""

from __future__ import annotations

import time as wallclock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu_escalation.configuration.calendars import BusinessCalendar

MINUTE = timedelta(minutes=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")

# ---------------------------------------------------------------------------- calendars

# Mon-Fri 09:00-12:00 + 13:30-18:00 (7.5 h a day). National Day week off, a make-up Saturday.
CN_WEEKLY = {wd: [(time(9), time(12)), (time(13, 30), time(18))] for wd in range(5)}
CN_HOLIDAYS = frozenset(date(2026, 10, d) for d in range(1, 8))  # Thu 1 .. Wed 7
CN_MAKEUP = {date(2026, 10, 10): [(time(9), time(12)), (time(13, 30), time(18))]}  # Saturday
CN = BusinessCalendar("cn-office", "Asia/Shanghai", CN_WEEKLY, CN_HOLIDAYS, CN_MAKEUP)

# New York, with boundaries inside both DST transition hours (02:00-03:00 does not exist on
# 2026-03-08; 01:00-02:00 happens twice on 2026-11-01) and a Saturday shift ending at 24:00.
NY_WEEKLY = {wd: [(time(9), time(17))] for wd in range(5)}
NY_WEEKLY[5] = [(time(10), time(14)), (time(22), time(0))]
NY_WEEKLY[6] = [(time(0), time(1, 30)), (time(1, 45), time(2, 30)), (time(2, 45), time(5))]
NY = BusinessCalendar("us-east", "America/New_York", NY_WEEKLY)

ALWAYS = BusinessCalendar.always()

# ---------------------------------------------------------------------------- the reference
#
# Deliberately naive and independent of the module: the local hours of each date are looked
# up from the raw test data; each local time L becomes the first instant whose wall clock
# reads >= L, found from zoneinfo's two folds and then by stepping a minute at a time; a
# minute counts if its first instant lies inside one of those spans. add() and elapsed() are
# then answered by walking minute after minute.


def ref_hours(cal: BusinessCalendar, day: date, raw: tuple) -> list[tuple[time, time]]:
    weekly, holidays, extra = raw
    if day in extra:
        return list(extra[day])
    if day in holidays:
        return []
    return list(weekly.get(day.weekday(), []))


def ref_first_instant(zone: ZoneInfo, local: datetime) -> datetime:
    t = min(local.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1))
    while t.astimezone(zone).replace(tzinfo=None) < local:
        t += MINUTE
    return t


def ref_spans(cal: BusinessCalendar, raw: tuple, lo: datetime, hi: datetime) -> list:
    zone = ZoneInfo(cal.tz)
    day = lo.astimezone(zone).date() - timedelta(days=2)
    last = hi.astimezone(zone).date() + timedelta(days=2)
    spans = []
    while day <= last:
        for start, end in ref_hours(cal, day, raw):
            s = datetime.combine(day, start)
            e = datetime.combine(day + timedelta(days=1) if end == time(0) else day, end)
            spans.append((ref_first_instant(zone, s), ref_first_instant(zone, e)))
        day += timedelta(days=1)
    return spans


class MinuteWalker:
    """is-this-minute-working, answered for minutes visited in increasing order."""

    def __init__(self, spans: list) -> None:
        self.spans, self.i = spans, 0

    def working(self, minute: datetime) -> bool:
        while self.i < len(self.spans) and self.spans[self.i][1] <= minute:
            self.i += 1
        return self.i < len(self.spans) and self.spans[self.i][0] <= minute


def ref_add(cal: BusinessCalendar, raw: tuple, start: datetime, minutes: int) -> datetime:
    if minutes == 0:
        return start
    walker = MinuteWalker(ref_spans(cal, raw, start, start + timedelta(days=7 + minutes // 120)))
    t, count = start, 0
    while True:
        if walker.working(t):
            count += 1
            if count == minutes:
                return t + MINUTE
        t += MINUTE


def ref_elapsed(cal: BusinessCalendar, raw: tuple, a: datetime, b: datetime) -> timedelta:
    walker = MinuteWalker(ref_spans(cal, raw, a, b))
    t, count = a, 0
    while t < b:
        count += walker.working(t)
        t += MINUTE
    return count * MINUTE


NY_RAW = (NY_WEEKLY, frozenset(), {})
ALWAYS_RAW = ({wd: [(time(0), time(0))] for wd in range(7)}, frozenset(), {})
CASES = {
    # calendar, raw data for the reference, base instant, window of start offsets (minutes)
    "shanghai": (
        CN,
        (CN_WEEKLY, CN_HOLIDAYS, CN_MAKEUP),
        datetime(2026, 9, 24, tzinfo=SHANGHAI),
        20 * 24 * 60,
    ),
    "ny-spring": (NY, NY_RAW, datetime(2026, 3, 2, tzinfo=NEW_YORK), 9 * 1440),
    "ny-autumn": (NY, NY_RAW, datetime(2026, 10, 26, tzinfo=NEW_YORK), 9 * 1440),
    "24x7": (ALWAYS, ALWAYS_RAW, datetime(2026, 3, 1, tzinfo=UTC), 20 * 1440),
}
REFERENCE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("case", CASES)
@REFERENCE
@given(offset=st.integers(0, 20 * 1440), minutes=st.integers(0, 60 * 60))
def test_add_matches_minute_by_minute_reference(case: str, offset: int, minutes: int) -> None:
    cal, raw, base, window = CASES[case]
    start = (base + (offset % window) * MINUTE).astimezone(UTC)
    got = cal.add(start, minutes * MINUTE)
    assert got == ref_add(cal, raw, start, minutes)
    assert got.tzinfo is UTC


@pytest.mark.parametrize("case", CASES)
@REFERENCE
@given(offset=st.integers(0, 20 * 1440), length=st.integers(-120, 14 * 1440))
def test_elapsed_matches_minute_by_minute_reference(case: str, offset: int, length: int) -> None:
    cal, raw, base, window = CASES[case]
    a = (base + (offset % window) * MINUTE).astimezone(UTC)
    b = a + length * MINUTE
    assert cal.elapsed(a, b) == ref_elapsed(cal, raw, a, b)


@pytest.mark.parametrize("case", CASES)
@REFERENCE
@given(offset=st.integers(0, 20 * 1440))
def test_is_working_matches_reference(case: str, offset: int) -> None:
    cal, raw, base, window = CASES[case]
    t = (base + (offset % window) * MINUTE).astimezone(UTC)
    walker = MinuteWalker(ref_spans(cal, raw, t, t))
    assert cal.is_working(t) == walker.working(t)


@pytest.mark.parametrize("cal", [CN, NY, ALWAYS], ids=["shanghai", "ny", "24x7"])
@settings(max_examples=150, deadline=None)
@given(
    start=st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC)),
    duration=st.timedeltas(timedelta(0), timedelta(hours=300)),
)
def test_elapsed_is_inverse_of_add_to_the_microsecond(
    cal: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    end = cal.add(start, duration)
    assert end >= start
    assert cal.elapsed(start, end) == duration
    if duration:  # earliest such instant: a moment earlier, less has elapsed
        assert cal.elapsed(start, end - timedelta(microseconds=1)) < duration


@pytest.mark.parametrize(
    "night", [datetime(2026, 3, 8, tzinfo=NEW_YORK), datetime(2026, 11, 1, tzinfo=NEW_YORK)]
)
def test_dst_nights_swept_every_five_minutes_against_reference(night: datetime) -> None:
    # Random starts may miss the two transition hours; sweep them deterministically.
    raw = NY_RAW
    first = (night - timedelta(hours=3)).astimezone(UTC)
    for step in range(0, 9 * 12):
        start = first + step * 5 * MINUTE
        for minutes in (0, 1, 14, 45, 90, 200, 600):
            end = ref_add(NY, raw, start, minutes)
            assert NY.add(start, minutes * MINUTE) == end, (start, minutes)
            assert NY.elapsed(start, end) == minutes * MINUTE
        for length in (5, 60, 180):
            b = start + length * MINUTE
            assert NY.elapsed(start, b) == ref_elapsed(NY, raw, start, b), (start, length)


# ---------------------------------------------------------------------------- rules by example


def cn(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SHANGHAI)


def test_add_skips_lunch_break_and_night() -> None:
    # Tue 11:00 + 8 h: 1 h to lunch, 4.5 h afternoon, then Wed 09:00-11:30 for the rest.
    assert CN.add(cn(2026, 11, 24, 11), timedelta(hours=8)) == cn(2026, 11, 25, 11, 30)
    # Lunch and night are not business time; started inside lunch, the clock waits.
    assert CN.add(cn(2026, 11, 24, 12, 15), timedelta(minutes=1)) == cn(2026, 11, 24, 13, 31)
    assert CN.elapsed(cn(2026, 11, 24, 11), cn(2026, 11, 25, 11, 30)) == timedelta(hours=8)


def test_friday_evening_plus_two_hours_lands_on_monday_morning() -> None:
    assert CN.add(cn(2026, 11, 20, 17), timedelta(hours=2)) == cn(2026, 11, 23, 10)
    assert CN.add(cn(2026, 11, 20, 20), timedelta(hours=2)) == cn(2026, 11, 23, 11)


def test_duration_ending_with_the_day_returns_closing_time_not_next_opening() -> None:
    assert CN.add(cn(2026, 11, 20, 17), timedelta(hours=1)) == cn(2026, 11, 20, 18)


def test_zero_duration_returns_start_itself_even_outside_hours() -> None:
    saturday_night = cn(2026, 11, 21, 23, 59, 59)
    assert CN.add(saturday_night, timedelta(0)) == saturday_night
    assert CN.add(saturday_night, timedelta(0)).tzinfo is UTC


def test_holiday_has_no_business_time() -> None:
    assert CN.elapsed(cn(2026, 10, 1), cn(2026, 10, 8)) == timedelta(0)
    assert not CN.is_working(cn(2026, 10, 2, 10))  # a Friday, but National Day
    # Wed 30 Sep 17:00 + 2 h: 1 h that day, the whole holiday skipped, Thu 8 Oct 10:00.
    assert CN.add(cn(2026, 9, 30, 17), timedelta(hours=2)) == cn(2026, 10, 8, 10)


def test_makeup_saturday_works() -> None:
    assert CN.is_working(cn(2026, 10, 10, 9))
    assert not CN.is_working(cn(2026, 10, 17, 9))  # an ordinary Saturday
    assert CN.elapsed(cn(2026, 10, 10), cn(2026, 10, 11)) == timedelta(hours=7, minutes=30)
    # Fri 9 Oct 17:30 + 1 h: half an hour Friday, half an hour on the make-up Saturday.
    assert CN.add(cn(2026, 10, 9, 17, 30), timedelta(hours=1)) == cn(2026, 10, 10, 9, 30)


def test_dst_spring_forward_day_has_one_hour_less() -> None:
    cal = BusinessCalendar("ny-nights", "America/New_York", {6: [(time(0), time(12))]})
    spring = datetime(2026, 3, 8, tzinfo=NEW_YORK)
    week_before = datetime(2026, 3, 1, tzinfo=NEW_YORK)
    day = timedelta(days=1)
    assert cal.elapsed(week_before, week_before + day) == timedelta(hours=12)
    assert cal.elapsed(spring, spring + day) == timedelta(hours=11)
    # 00:00 EST + 3 business hours: 02:00-03:00 never happens, so 04:00 EDT (08:00 UTC).
    assert cal.add(spring, timedelta(hours=3)) == datetime(2026, 3, 8, 8, tzinfo=UTC)
    assert BusinessCalendar.always(tz="America/New_York").elapsed(spring, spring + day) == (
        timedelta(hours=23)
    )


def test_dst_fall_back_day_has_one_hour_more() -> None:
    cal = BusinessCalendar("ny-nights", "America/New_York", {6: [(time(0), time(12))]})
    autumn = datetime(2026, 11, 1, tzinfo=NEW_YORK)
    assert cal.elapsed(autumn, autumn + timedelta(days=1)) == timedelta(hours=13)


def test_dst_boundaries_in_the_gap_and_the_repeated_hour_are_deterministic() -> None:
    # 02:30 on spring day does not exist: it means the transition instant (07:00 UTC).
    # 01:30 on autumn day happens twice: it means its first occurrence (05:30 UTC).
    cal = BusinessCalendar(
        "ny-edge", "America/New_York", {6: [(time(1, 30), time(2, 30)), (time(2, 30), time(4))]}
    )
    utc = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
    assert cal.elapsed(utc(2026, 3, 8), utc(2026, 3, 9)) == timedelta(hours=1, minutes=30)
    assert cal.add(utc(2026, 3, 8), timedelta(minutes=30)) == utc(2026, 3, 8, 7)
    assert cal.add(utc(2026, 11, 1), timedelta(0, 1)) == utc(2026, 11, 1, 5, 30, 1)
    # 01:30 EDT .. 04:00 EST is 3.5 real hours; the two intervals tile with no gap.
    assert cal.elapsed(utc(2026, 11, 1), utc(2026, 11, 2)) == timedelta(hours=3, minutes=30)
    assert cal.is_working(utc(2026, 11, 1, 6, 15))  # 01:15 EST, inside the 01:30 EDT shift


def test_elapsed_is_inverse_of_add() -> None:
    start = cn(2026, 9, 29, 10, 17, 3)
    for hours in (0, 1, 7.5, 8, 40, 300):
        d = timedelta(hours=hours, seconds=11)
        assert CN.elapsed(start, CN.add(start, d)) == d
    assert CN.elapsed(cn(2026, 11, 24, 12), cn(2026, 11, 23, 12)) == timedelta(0)


def test_24x7_is_wall_clock() -> None:
    # Across New York's spring-forward night: real time, not the aware-datetime "+" of Python,
    # which adds wall-clock time within one tzinfo (and would be an hour off here).
    start = datetime(2026, 3, 7, 22, 13, 7, 5, tzinfo=NEW_YORK)
    for d in (timedelta(0), timedelta(0, 1), timedelta(hours=8), timedelta(days=40, seconds=3)):
        assert ALWAYS.add(start, d) == start.astimezone(UTC) + d
        assert ALWAYS.elapsed(start, start.astimezone(UTC) + d) == d
    wall_8h_later = start + timedelta(hours=8)  # 06:13 EDT: only 7 real hours later
    assert ALWAYS.elapsed(start, wall_8h_later) == timedelta(hours=7)
    assert ALWAYS.is_working(start)
    assert ALWAYS.name == "24x7"


def test_aware_in_utc_out() -> None:
    out = CN.add(datetime(2026, 11, 24, 1, tzinfo=UTC), timedelta(hours=1))
    assert out.tzinfo is UTC and out == cn(2026, 11, 24, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        CN.add(datetime(2026, 11, 24, 9), timedelta(hours=1))
    with pytest.raises(ValueError, match="negative"):
        CN.add(cn(2026, 11, 24, 9), timedelta(seconds=-1))


def test_long_durations_walk_days_not_minutes() -> None:
    start = cn(2026, 1, 1, 0, 0, 1)
    began = wallclock.perf_counter()
    end = CN.add(start, timedelta(hours=7.5 * 2000))  # about eight working years
    assert CN.elapsed(start, end) == timedelta(hours=7.5 * 2000)
    assert wallclock.perf_counter() - began < 2.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weekly": {0: [(time(9), time(12)), (time(11), time(18))]}}, "overlap"),
        ({"weekly": {0: [(time(13), time(18)), (time(9), time(12))]}}, "unsorted"),
        ({"weekly": {0: [(time(18), time(9))]}}, "empty or reversed"),
        ({"weekly": {0: [(time(9), time(9))]}}, "empty or reversed"),
        ({"weekly": {0: [(time(9), time(18))]}, "tz": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"weekly": {}}, "no working hours"),
        ({"weekly": {d: [] for d in range(7)}}, "no working hours"),
        ({"weekly": {7: [(time(9), time(18))]}}, "weekdays 0=Mon..6=Sun"),
        (
            {
                "weekly": {0: [(time(9), time(18))]},
                "holidays": frozenset({date(2026, 10, 10)}),
                "extra_workdays": {date(2026, 10, 10): [(time(9), time(18))]},
            },
            "both a holiday and an extra workday",
        ),
        (
            {"weekly": {0: [(time(9), time(18))]}, "extra_workdays": {date(2026, 10, 10): []}},
            "has no hours",
        ),
    ],
)
def test_invalid_calendar_is_refused_with_a_clear_message(kwargs: dict, message: str) -> None:
    kwargs = {"name": "bad", "tz": "Asia/Shanghai", **kwargs}
    with pytest.raises(ValueError, match=message) as err:
        BusinessCalendar(**kwargs)
    assert "calendar 'bad'" in str(err.value)


def test_midnight_end_means_24_00() -> None:
    weekly = {4: [(time(22), time(0))], 5: [(time(0), time(2))]}  # Fri 22:00-24:00, Sat 0-2
    cal = BusinessCalendar("nights", "Asia/Shanghai", weekly)
    fri = cn(2026, 11, 20, 22)
    assert cal.elapsed(fri, fri + timedelta(days=1)) == timedelta(hours=4)
    assert cal.add(fri, timedelta(hours=3)) == cn(2026, 11, 21, 1)


def test_from_spec_builds_the_same_calendar() -> None:
    spec = {
        "name": "cn-office",
        "tz": "Asia/Shanghai",
        "weekly": {day: ["09:00-12:00", "13:30-18:00"] for day in "mon tue wed thu fri".split()},
        "holidays": [f"2026-10-0{d}" for d in range(1, 8)],
        "extra_workdays": {"2026-10-10": ["09:00-12:00", "13:30-18:00"]},
    }
    assert BusinessCalendar.from_spec(spec) == CN
    assert hash(BusinessCalendar.from_spec(spec)) == hash(CN)
    night = BusinessCalendar.from_spec({"name": "n", "tz": "UTC", "weekly": {0: ["22:00-24:00"]}})
    assert night.weekly[0] == ((time(22), time(0)),)
    with pytest.raises(ValueError, match="not an interval"):
        BusinessCalendar.from_spec({"name": "n", "tz": "UTC", "weekly": {0: ["9 to 5"]}})
