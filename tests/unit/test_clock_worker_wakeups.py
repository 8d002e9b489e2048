"""What the SLA clock worker does with a deadline notification (NOTIFY kefu_escalation_timer):
it keeps the earlier of what it knows and what was announced, so its own new acknowledgement
clocks (hours ahead) never send a busy timer looking for due acknowledgements on every pass,
while an earlier one from anywhere is never slept through. No database: the worker's
bookkeeping only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kefu_common.clock import ManualClock
from kefu_escalation.clocks.timer import SlaClockWorker

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def worker(acks: datetime | None, updates: datetime | None = None) -> SlaClockWorker:
    w = SlaClockWorker(None, ManualClock(NOW), listen=False)  # type: ignore[arg-type]
    w._due = {"acks": acks, "updates": updates}
    return w


def test_a_later_acknowledgement_deadline_keeps_what_the_timer_knows() -> None:
    w = worker(acks=NOW + H)
    w.deadlines_changed(f"acks {(NOW + 24 * H).isoformat()}")
    assert w._due["acks"] == NOW + H
    assert not w._is_due("acks", NOW)  # no look-up on the next pass
    assert w._wake.is_set()


def test_an_earlier_deadline_of_a_kind_replaces_the_known_one() -> None:
    w = worker(acks=NOW + H, updates=NOW + 2 * H)
    w.deadlines_changed(f"updates {(NOW - timedelta(seconds=1)).isoformat()}")
    assert w._due == {"acks": NOW + H, "updates": NOW - timedelta(seconds=1)}
    assert w._is_due("updates", NOW)


def test_an_unknown_deadline_stays_unknown_and_a_bare_notification_forgets_everything() -> None:
    w = worker(acks=None, updates=NOW + H)
    w.deadlines_changed(f"acks {(NOW + H).isoformat()}")
    assert w._due["acks"] is None  # still unknown: looked up on the next pass
    w.deadlines_changed(f"ticks {(NOW + H).isoformat()}")  # clock deadlines: always looked up
    assert w._due == {"acks": None, "updates": NOW + H}
    for payload in ("", "acks not-an-instant", "bogus 2026-11-24T12:00:00+00:00"):
        w = worker(acks=NOW + H, updates=NOW + H)
        w.deadlines_changed(payload)  # a reconnect or anything unexpected: look everything up
        assert w._due == {"acks": None, "updates": None}
