"""Mainland China's holidays and 调休 from chinesecalendar, cross-checked with holidays
(issue #14.17); no database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from kefu_escalation.configuration.cn_holidays import HolidayDataMissing, cn_year, uncovered_years, with_years


def test_2026_has_its_weekday_holidays_and_its_six_weekend_make_up_workdays() -> None:
    y = cn_year(2026)
    assert {date(2026, 1, 1), date(2026, 2, 16), date(2026, 10, 1), date(2026, 10, 7)} <= set(y.days_off)
    assert all(d.weekday() < 5 for d in y.days_off) and len(y.days_off) == 19
    assert y.workdays == (date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
                          date(2026, 9, 20), date(2026, 10, 10))


def test_a_year_without_a_published_schedule_is_refused_not_guessed() -> None:
    with pytest.raises(HolidayDataMissing, match="no published schedule for 2031"):
        cn_year(2031)


def test_importing_a_year_replaces_only_that_years_entries() -> None:
    spec = {"name": "x", "tz": "Asia/Shanghai", "weekly": {"mon": ["09:00-18:00"]},
            "holidays": ["2025-01-01", "2026-03-03"], "extra_workdays": {"2026-03-07": ["09:00-12:00"]}}
    merged = with_years(spec, [cn_year(2026)], ["09:00-18:00"])
    assert "2025-01-01" in merged["holidays"] and "2026-03-03" not in merged["holidays"]
    assert "2026-10-01" in merged["holidays"]
    assert "2026-03-07" not in merged["extra_workdays"]
    assert merged["extra_workdays"]["2026-02-14"] == ["09:00-18:00"]


def test_a_deadline_reaching_into_a_year_without_holidays_is_flagged() -> None:
    holidays = frozenset(cn_year(2026).days_off)
    start = datetime(2026, 12, 30, 2, 0, tzinfo=UTC)
    assert uncovered_years(holidays, start, datetime(2026, 12, 31, 9, 0, tzinfo=UTC), "Asia/Shanghai") == ()
    # 2026-12-31 17:00 UTC is already 2027-01-01 in Shanghai
    assert uncovered_years(holidays, start, datetime(2026, 12, 31, 17, 0, tzinfo=UTC), "Asia/Shanghai") == (2027,)
    assert uncovered_years(frozenset(), start, datetime(2028, 1, 1, tzinfo=UTC), "UTC") == ()  # no holiday data at all
