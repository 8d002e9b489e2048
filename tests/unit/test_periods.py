"""kefu_common.periods: bucket boundaries, clipping and previous spans, hand-computed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from kefu_common.errors import InvalidArgument
from kefu_common.periods import BucketUnit, Compare, Span, plan, zone


def _spans(p):
    return [(b.span.start.isoformat(), b.span.end.isoformat(), b.clipped) for b in p.buckets]


def _prev(p):
    return [(b.previous.start.isoformat(), b.previous.end.isoformat()) for b in p.buckets]


def test_week_buckets_cross_a_month_unsplit_and_clip_first_and_last():
    p = plan(date(2026, 11, 25), date(2026, 12, 10), unit="week")
    assert _spans(p) == [
        ("2026-11-25", "2026-11-30", True),
        ("2026-11-30", "2026-12-07", False),  # Mon 30 Nov .. Mon 7 Dec: one week, two months
        ("2026-12-07", "2026-12-10", True),
    ]
    # previous of a clipped bucket: the same number of days just before; of a week: the week before
    assert _prev(p) == [
        ("2026-11-20", "2026-11-25"),
        ("2026-11-23", "2026-11-30"),
        ("2026-12-04", "2026-12-07"),
    ]


def test_month_bucket_previous_is_the_calendar_month_before():
    p = plan(date(2026, 1, 15), date(2026, 4, 1), unit="month")
    assert _spans(p) == [
        ("2026-01-15", "2026-02-01", True),
        ("2026-02-01", "2026-03-01", False),
        ("2026-03-01", "2026-04-01", False),
    ]
    assert _prev(p) == [
        ("2025-12-29", "2026-01-15"),  # clipped: 17 days before
        ("2026-01-01", "2026-02-01"),  # February's previous is all of January (31 days)
        ("2026-02-01", "2026-03-01"),  # March's previous is February (28 days)
    ]


def test_january_previous_is_december_of_the_year_before():
    p = plan(date(2026, 1, 1), date(2026, 2, 1), unit="month")
    assert _prev(p) == [("2025-12-01", "2026-01-01")]
    assert p.buckets[0].clipped is False


def test_none_bucket_is_the_whole_range_and_its_previous_the_equal_range_before():
    p = plan(date(2026, 11, 1), date(2026, 12, 1))
    assert p.unit is BucketUnit.NONE
    assert _spans(p) == [("2026-11-01", "2026-12-01", False)]
    assert _prev(p) == [("2026-10-02", "2026-11-01")]


def test_day_buckets_in_a_dst_free_zone_start_at_local_midnight_and_last_24_hours():
    p = plan(date(2026, 3, 28), date(2026, 3, 31), tz="Asia/Shanghai", unit="day")
    assert [b.span.utc(p.tz) for b in p.buckets] == [
        (datetime(2026, 3, 27, 16, tzinfo=UTC), datetime(2026, 3, 28, 16, tzinfo=UTC)),
        (datetime(2026, 3, 28, 16, tzinfo=UTC), datetime(2026, 3, 29, 16, tzinfo=UTC)),
        (datetime(2026, 3, 29, 16, tzinfo=UTC), datetime(2026, 3, 30, 16, tzinfo=UTC)),
    ]


def test_day_buckets_in_a_dst_zone_have_23_and_25_hour_days():
    spring = plan(date(2026, 3, 29), date(2026, 3, 30), tz="Europe/Berlin", unit="day")
    lo, hi = spring.buckets[0].span.utc(spring.tz)
    assert (lo, hi) == (
        datetime(2026, 3, 28, 23, tzinfo=UTC),  # 00:00 CET (+01)
        datetime(2026, 3, 29, 22, tzinfo=UTC),  # 00:00 CEST (+02)
    )
    assert hi - lo == timedelta(hours=23)
    autumn = plan(date(2026, 10, 25), date(2026, 10, 26), tz="Europe/Berlin", unit="day")
    lo, hi = autumn.buckets[0].span.utc(autumn.tz)
    assert (lo, hi) == (datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC))
    assert hi - lo == timedelta(hours=25)


def test_utc_bounds_cover_the_previous_spans_and_sql_params_list_every_span():
    p = plan(date(2026, 11, 30), date(2026, 12, 14), unit="week")
    assert p.utc_bounds() == (
        datetime(2026, 11, 22, 16, tzinfo=UTC),  # 2026-11-23 00:00 +08
        datetime(2026, 12, 13, 16, tzinfo=UTC),
    )
    params = p.sql_params()
    assert (params["tz"], params["lo"], params["hi"]) == ("Asia/Shanghai", *p.utc_bounds())
    # bucket 0 (11-30..12-07) and its previous (11-23..11-30), bucket 1 and its previous: 28 days
    assert len(params["span_day"]) == 28
    rows = list(zip(params["span_day"], params["span_idx"], params["span_prev"], strict=True))
    assert rows[0] == (date(2026, 11, 30), 0, False)
    assert rows[7] == (date(2026, 11, 23), 0, True)
    assert (date(2026, 12, 6), 1, True) in rows and (date(2026, 12, 6), 0, False) in rows


def test_compare_none_has_no_previous_spans():
    p = plan(date(2026, 11, 1), date(2026, 11, 4), unit="day", compare=Compare.NONE)
    assert [b.previous for b in p.buckets] == [None, None, None]
    assert p.spans() == [(0, False, Span(date(2026, 11, 1), date(2026, 11, 2))),
                         (1, False, Span(date(2026, 11, 2), date(2026, 11, 3))),
                         (2, False, Span(date(2026, 11, 3), date(2026, 11, 4)))]


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/UTC", " UTC"])
def test_unknown_time_zone_is_invalid_time_zone(name):
    with pytest.raises(InvalidArgument) as err:
        zone(name)
    assert err.value.code == "invalid_time_zone"


@pytest.mark.parametrize(
    ("start", "end"),
    [(date(2026, 1, 2), date(2026, 1, 2)), (date(2026, 1, 2), date(2026, 1, 1)),
     (date(2025, 1, 1), date(2026, 1, 3)), (date(1, 1, 1), date(1, 1, 3))],
)
def test_empty_reversed_or_too_long_range_is_invalid_range(start, end):
    with pytest.raises(InvalidArgument) as err:
        plan(start, end, unit="day")
    assert err.value.code == "invalid_range"


def test_a_366_day_range_is_accepted():
    p = plan(date(2028, 1, 1), date(2029, 1, 1), unit="month")  # leap year: 366 days
    assert len(p.buckets) == 12


def test_report_range_round_trips_through_the_wire_form():
    from kefu_common.protoconv import plan_from_range, report_range

    p = plan(date(2026, 11, 25), date(2026, 12, 10), tz="Europe/Berlin", unit="week")
    msg = report_range(p)
    assert (msg.start, msg.end, msg.tz, msg.bucket, msg.compare_previous) == (
        "2026-11-25", "2026-12-10", "Europe/Berlin", "week", True)
    assert plan_from_range(msg) == p


def test_a_previous_span_that_leaves_the_calendar_is_invalid_range():
    # The range before 0002 starts on 0001-01-01, whose Shanghai midnight precedes year 1 in UTC.
    with pytest.raises(InvalidArgument) as raised:
        plan(date(2, 1, 1), date(3, 1, 1), tz="Asia/Shanghai")
    assert raised.value.code == "invalid_range"
    # West of Greenwich the same instant exists; without a previous span nothing leaves it.
    assert plan(date(2, 1, 1), date(3, 1, 1), tz="America/New_York").utc_bounds()[0].year == 1
    assert plan(date(2, 1, 1), date(3, 1, 1), tz="Asia/Shanghai", compare="none").buckets
