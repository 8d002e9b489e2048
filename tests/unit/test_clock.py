from datetime import UTC, datetime, timedelta

import pytest

from kefu_common.clock import Clock, ManualClock, SystemClock


def test_system_clock_is_timezone_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


def test_manual_clock_moves_only_when_told() -> None:
    start = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    clock = ManualClock(start)
    assert clock.now() == start == clock.now()
    assert clock.advance(timedelta(hours=8)) == start + timedelta(hours=8)
    assert clock.now() == start + timedelta(hours=8)


def test_manual_clock_never_runs_backwards() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        clock.set(datetime(2025, 12, 31, tzinfo=UTC))


def test_manual_clock_refuses_naive_times() -> None:
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 1, 1))


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(ManualClock(datetime(2026, 1, 1, tzinfo=UTC)), Clock)
