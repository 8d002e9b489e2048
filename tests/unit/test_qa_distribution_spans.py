"""The QA distribution finds each evaluation's span by its day number when no day is in two
spans (a histogram over the range beside the range before), and joins the span days otherwise."""

from datetime import date

from kefu_common.periods import plan
from kefu_scoring.reports import _day_labels


def test_a_range_and_its_previous_label_each_day_with_its_one_span() -> None:
    p = plan(date(2026, 11, 1), date(2026, 12, 1), unit="none", compare="previous")
    labels = _day_labels(p.sql_params())
    assert labels == [1] * 30 + [0] * 30  # October: previous of bucket 0; November: bucket 0


def test_day_buckets_with_previous_share_days_so_the_spans_are_joined() -> None:
    p = plan(date(2026, 11, 1), date(2026, 11, 8), unit="day", compare="previous")
    assert _day_labels(p.sql_params()) is None  # 11-02 is bucket 1 and the previous of bucket 2
