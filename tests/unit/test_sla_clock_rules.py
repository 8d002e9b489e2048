"""SLA clock rules (issue 4, DOMAIN.md §2), one test per rule, explicit instants only: no
sleeping, no wall clock. The model is pure: commands return events, `append` folds them."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kefu_escalation.configuration.calendars import BusinessCalendar
from kefu_escalation.clocks.model import ClockError, ClockEvent, Target, TicketClocks

H = timedelta(hours=1)
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)
ALWAYS = BusinessCalendar.always()
SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = BusinessCalendar("cn-office", "Asia/Shanghai", {wd: [(time(9), time(18))] for wd in range(5)})

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday

FIRST_RESPONSE = Target("first_response", 4 * H, pauses_when_pending=False)
RESOLUTION = Target("resolution", 8 * H, pauses_when_pending=True)
POLICY = (FIRST_RESPONSE, RESOLUTION)


def do(clocks: TicketClocks, command: str, *args: object) -> tuple[TicketClocks, list[ClockEvent]]:
    """Run a command and append the events it returns (as the DB layer would)."""
    events = getattr(clocks, command)(*args)
    return clocks.append(events), events


def opened(at: datetime = T0, targets=POLICY, calendar: BusinessCalendar = ALWAYS) -> TicketClocks:
    return do(TicketClocks(), "open_cycle", at, targets, calendar)[0]


def kinds(events: list[ClockEvent]) -> list[tuple[str, str | None]]:
    return [(e.kind, e.target) for e in events]


# ---------------------------------------------------------------------------- start


def test_clock_starts_at_first_contact_not_at_creation() -> None:
    first_contact = T0
    created_and_consumed = T0 + 40 * MIN  # the ticket row / event came later
    clocks, events = do(TicketClocks(), "open_cycle", first_contact, POLICY, ALWAYS)
    clocks, _ = do(clocks, "tick", created_and_consumed)

    assert kinds(events) == [("cycle_opened", None), ("started", "first_response"), ("started", "resolution")]
    assert all(e.at == first_contact for e in events)
    assert clocks.current.opened_at == first_contact
    assert clocks.due_at("first_response") == first_contact + 4 * H
    assert clocks.due_at("resolution") == first_contact + 8 * H
    assert clocks.current.used("resolution", created_and_consumed) == 40 * MIN


# ---------------------------------------------------------------------------- contacts


def test_repeated_contacts_never_restart_or_extend_the_clock() -> None:
    # Seed 003, scenario 2: "a specialist will call within 24 hours", said on every call.
    callback = Target("first_response", 24 * H)
    clocks = opened(T0, (callback,))
    due = clocks.due_at("first_response")
    assert due == T0 + 24 * H

    # There is no contact command at all: a contact can at most make a consumer look at the
    # clock (tick) - and trying to "open" the clock again at a contact is refused.
    assert not [name for name in dir(clocks) if "contact" in name or "restart" in name or "extend" in name]
    for contact_at in (T0 + 2 * H, T0 + 10 * H, T0 + 23 * H):
        with pytest.raises(ClockError, match="never restarts"):
            clocks.open_cycle(contact_at, (callback,), ALWAYS)
        clocks, _ = do(clocks, "tick", contact_at)
        assert clocks.due_at("first_response") == due

    clocks, breached = do(clocks, "tick", T0 + 24 * H)
    assert kinds(breached) == [("breached", "first_response")]  # 24 h from the FIRST call


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=30 * 3600), max_size=40))
def test_replaying_history_with_many_contact_like_no_ops_leaves_due_times_unchanged(
    contact_offsets: list[int],
) -> None:
    clocks = opened()
    due = {n: clocks.due_at(n) for n in ("first_response", "resolution")}
    for offset in sorted(contact_offsets):
        clocks, _ = do(clocks, "tick", T0 + timedelta(seconds=offset))  # all a contact can cause
    replayed = TicketClocks.replay(clocks.events)
    for name, expected in due.items():
        assert clocks.current.due_at(name) in (expected, None)  # None only once it has ended
        assert replayed.current.due_at(name) == clocks.current.due_at(name)
        if clocks.current.outcome(name) is None:
            assert clocks.due_at(name) == expected
    assert replayed.snapshot() == clocks.snapshot()


# ---------------------------------------------------------------------------- pause / resume


def test_pending_customer_pauses_resolution_when_policy_says_so() -> None:
    clocks = opened()
    clocks, events = do(clocks, "pause", T0 + 2 * H)
    assert kinds(events) == [("paused", None), ("paused", "resolution")]
    assert not clocks.current.is_running("resolution")
    assert clocks.due_at("resolution") is None  # not due while waiting for the customer
    assert clocks.current.used("resolution", T0 + 30 * H) == 2 * H
    assert kinds(clocks.tick(T0 + 30 * H)) == [("warned", "first_response"), ("breached", "first_response")]

    # A policy that does not pause resolution keeps it running while pending.
    no_pause = opened(targets=(Target("resolution", 8 * H, pauses_when_pending=False),))
    no_pause, events = do(no_pause, "pause", T0 + 2 * H)
    assert kinds(events) == [("paused", None)]
    assert no_pause.due_at("resolution") == T0 + 8 * H


def test_pending_does_not_pause_first_response() -> None:
    clocks = opened()
    clocks, _ = do(clocks, "pause", T0 + 1 * H)
    assert clocks.current.is_running("first_response")
    assert clocks.due_at("first_response") == T0 + 4 * H
    clocks, events = do(clocks, "tick", T0 + 4 * H)
    assert kinds(events) == [("warned", "first_response"), ("breached", "first_response")]


def test_resume_continues_with_the_remaining_time() -> None:
    clocks = opened()
    clocks, _ = do(clocks, "pause", T0 + 2 * H)  # 6 h left
    clocks, events = do(clocks, "resume", T0 + 6 * H)  # 4 h waiting for the customer
    assert kinds(events) == [("resumed", None), ("resumed", "resolution")]
    assert events[1].details["remaining"] == 6 * H
    assert events[1].details["due_at"] == T0 + 12 * H
    assert clocks.due_at("resolution") == T0 + 12 * H
    assert clocks.warn_at("resolution") == T0 + 10 * H  # 75 % of 8 h = 6 h of running time
    assert clocks.current.used("resolution", T0 + 12 * H) == 8 * H


# ---------------------------------------------------------------------------- resolve


def test_resolve_stops_the_cycle_and_keeps_met_outcome() -> None:
    clocks = opened()
    clocks, _ = do(clocks, "satisfy", "first_response", T0 + 30 * MIN)
    clocks, events = do(clocks, "stop", T0 + 7 * H)
    assert kinds(events) == [("met", "resolution"), ("stopped", None)]
    assert events[-1].details["outcomes"] == {"first_response": "met", "resolution": "met"}

    cycle = clocks.current
    assert not cycle.is_open and cycle.stopped_at == T0 + 7 * H
    first, resolution = cycle.outcome("first_response"), cycle.outcome("resolution")
    assert (first.result, first.reason, first.used, first.margin) == ("met", "satisfied", 30 * MIN, 210 * MIN)
    assert (resolution.result, resolution.reason, resolution.used) == ("met", "resolved", 7 * H)
    assert (resolution.margin, resolution.overrun, resolution.late_by) == (1 * H, timedelta(0), timedelta(0))
    assert TicketClocks.replay(clocks.events).current.outcomes == cycle.outcomes


def test_resolve_after_due_keeps_breached_outcome_and_overrun() -> None:
    clocks = opened()
    clocks, _ = do(clocks, "satisfy", "first_response", T0 + 1 * H)
    clocks, events = do(clocks, "stop", T0 + 10 * H + 30 * MIN)  # never ticked: breach found at stop
    assert kinds(events) == [("breached", "resolution"), ("stopped", "resolution"), ("stopped", None)]
    assert events[0].details["due_at"] == T0 + 8 * H

    outcome = clocks.current.outcome("resolution")
    assert outcome.result == "breached"
    assert outcome.due_at == T0 + 8 * H
    assert outcome.used == 10 * H + 30 * MIN
    assert outcome.overrun == outcome.late_by == 2 * H + 30 * MIN
    assert outcome.margin == timedelta(0)
    assert clocks.current.outcome("first_response").result == "met"


def test_target_breaches_at_its_due_instant_not_after() -> None:
    clocks = opened()
    on_time, _ = do(clocks, "satisfy", "first_response", T0 + 4 * H - US)
    assert on_time.current.outcome("first_response").result == "met"
    at_due, events = do(clocks, "satisfy", "first_response", T0 + 4 * H)
    assert kinds(events) == [("breached", "first_response"), ("stopped", "first_response")]
    outcome = at_due.current.outcome("first_response")
    assert (outcome.result, outcome.overrun, outcome.late_by) == ("breached", timedelta(0), timedelta(0))
    assert kinds(clocks.tick(T0 + 4 * H))[-1] == ("breached", "first_response")
    with pytest.raises(ClockError, match="contradicts"):  # a forged on-time outcome is refused
        clocks.append([ClockEvent("met", 1, T0 + 4 * H, "first_response")])


# ---------------------------------------------------------------------------- reopen


def test_reopen_is_the_only_restart_and_opens_new_cycle_with_fresh_targets() -> None:
    clocks = opened()
    clocks, _ = do(clocks, "tick", T0 + 5 * H)  # first response breached in cycle 1
    with pytest.raises(ClockError, match="still running"):
        clocks.open_cycle(T0 + 5 * H, POLICY, ALWAYS)
    clocks, _ = do(clocks, "stop", T0 + 6 * H)

    reopen_at = T0 + 48 * H
    vip = (Target("resolution", 2 * H, pauses_when_pending=True, warning_percent=50),)
    clocks, events = do(clocks, "open_cycle", reopen_at, vip, OFFICE)
    assert kinds(events) == [("cycle_opened", None), ("started", "resolution")]
    assert events[0].cycle == 2 and events[0].details["reopen"] is True

    cycle = clocks.current
    assert cycle.number == 2 and cycle.calendar is OFFICE and cycle.targets == vip
    assert cycle.started_targets == ("resolution",)
    assert cycle.fired("resolution") == (False, False)  # fresh: nothing fired yet
    # Wed 2026-03-04 09:00 UTC is 17:00 Shanghai: 1 h today, 1 h from Thursday 09:00.
    assert clocks.due_at("resolution") == datetime(2026, 3, 5, 10, 0, tzinfo=SHANGHAI)
    assert clocks.warn_at("resolution") == datetime(2026, 3, 4, 18, 0, tzinfo=SHANGHAI)


def test_earlier_cycle_outcomes_stay_in_history_after_reopen() -> None:
    clocks = opened()
    clocks, _ = do(clocks, "satisfy", "first_response", T0 + 1 * H)
    clocks, _ = do(clocks, "stop", T0 + 9 * H)  # resolution breached by 1 h
    cycle1_events = clocks.events
    cycle1_outcomes = dict(clocks.cycles[0].outcomes)

    clocks, _ = do(clocks, "open_cycle", T0 + 24 * H, POLICY, ALWAYS)
    clocks, _ = do(clocks, "stop", T0 + 25 * H)

    assert clocks.events[: len(cycle1_events)] == cycle1_events  # history only grows
    assert [c.number for c in clocks.cycles] == [1, 2]
    assert dict(clocks.cycles[0].outcomes) == cycle1_outcomes
    assert clocks.cycles[0].outcome("resolution").result == "breached"
    assert clocks.cycles[0].outcome("resolution").overrun == 1 * H
    assert clocks.cycles[1].outcome("resolution").result == "met"
    assert TicketClocks.replay(clocks.events).snapshot() == clocks.snapshot()


# ---------------------------------------------------------------------------- warn / breach


def test_warning_fires_at_threshold_once_per_cycle() -> None:
    clocks = opened(targets=(RESOLUTION,))
    assert clocks.warn_at("resolution") == T0 + 6 * H  # 75 % of 8 h
    clocks, events = do(clocks, "tick", T0 + 6 * H - US)
    assert events == []
    clocks, events = do(clocks, "tick", T0 + 6 * H)
    assert kinds(events) == [("warned", "resolution")]
    assert events[0].details["warn_at"] == T0 + 6 * H
    for later in (T0 + 6 * H, T0 + 6 * H + MIN, T0 + 7 * H):
        clocks, events = do(clocks, "tick", later)
        assert events == []
    with pytest.raises(ClockError, match="already fired"):
        clocks.append([ClockEvent("warned", 1, T0 + 7 * H, "resolution")])  # a replayed duplicate

    # A new cycle has its own warning.
    clocks, _ = do(clocks, "stop", T0 + 7 * H)
    clocks, _ = do(clocks, "open_cycle", T0 + 20 * H, (RESOLUTION,), ALWAYS)
    clocks, events = do(clocks, "tick", T0 + 26 * H)
    assert [(e.kind, e.cycle) for e in events] == [("warned", 2)]


def test_breach_fires_once_per_cycle_even_if_ticked_repeatedly() -> None:
    clocks = opened(targets=(FIRST_RESPONSE,))
    fired: list[ClockEvent] = []
    for minutes in range(0, 8 * 60, 7):
        clocks, events = do(clocks, "tick", T0 + minutes * MIN)
        fired += events
    assert kinds(fired) == [("warned", "first_response"), ("breached", "first_response")]
    breach = fired[1]
    assert breach.details["due_at"] == T0 + 4 * H and breach.at == T0 + 4 * H + 5 * MIN  # first tick after

    # Pausing, resuming and resolving after the breach never fire it again.
    clocks, _ = do(clocks, "pause", T0 + 9 * H)
    clocks, _ = do(clocks, "resume", T0 + 10 * H)
    clocks, events = do(clocks, "stop", T0 + 11 * H)
    assert kinds(events) == [("stopped", "first_response"), ("stopped", None)]
    assert sum(e.kind == "breached" for e in clocks.events) == 1
    with pytest.raises(ClockError):
        TicketClocks.replay([*clocks.events[:-2], breach])  # a duplicate breach in the history


# ---------------------------------------------------------------------------- business time


def test_clock_on_business_calendar_skips_nights_and_weekends() -> None:
    friday_4pm = datetime(2026, 3, 6, 16, 0, tzinfo=SHANGHAI)
    policy = (Target("first_response", 2 * H), Target("resolution", 8 * H, pauses_when_pending=True))
    clocks = opened(friday_4pm, policy, OFFICE)
    # First response runs out exactly at Friday 18:00 (an interval's end, not Monday 09:00).
    assert clocks.due_at("first_response") == datetime(2026, 3, 6, 18, 0, tzinfo=SHANGHAI)
    # Resolution: Fri 16-18 (2 h), the weekend is skipped, Mon 09:00 + 6 h.
    assert clocks.due_at("resolution") == datetime(2026, 3, 9, 15, 0, tzinfo=SHANGHAI)

    # Pending from Fri 17:00 (1 h used) to Mon 10:00: 7 h left from Mon 10:00 -> Mon 17:00.
    clocks, _ = do(clocks, "pause", datetime(2026, 3, 6, 17, 0, tzinfo=SHANGHAI))
    clocks, _ = do(clocks, "satisfy", "first_response", datetime(2026, 3, 6, 20, 0, tzinfo=SHANGHAI))
    late = clocks.current.outcome("first_response")
    assert late.result == "breached"  # due at 18:00, answered at 20:00
    assert late.used == 2 * H and late.overrun == timedelta(0)  # no business time overran ...
    assert late.late_by == 2 * H  # ... but it was 2 h late
    clocks, _ = do(clocks, "resume", datetime(2026, 3, 9, 10, 0, tzinfo=SHANGHAI))
    assert clocks.due_at("resolution") == datetime(2026, 3, 9, 17, 0, tzinfo=SHANGHAI)
    # The 75 % warning (6 h) is Mon 15:00; a tick over the weekend fires nothing.
    assert clocks.warn_at("resolution") == datetime(2026, 3, 9, 15, 0, tzinfo=SHANGHAI)
    assert clocks.current.used("resolution", datetime(2026, 3, 9, 12, 0, tzinfo=SHANGHAI)) == 3 * H


# ---------------------------------------------------------------------------- replay


@st.composite
def command_scripts(draw: st.DrawFn) -> list[tuple[str, int, str]]:
    steps = draw(st.lists(st.tuples(
        st.sampled_from(["pause", "resume", "satisfy", "tick", "stop", "reopen"]),
        st.integers(min_value=0, max_value=5 * 3600),
        st.sampled_from(["first_response", "resolution"]),
    ), max_size=25))
    return steps


def _oracle_due(opened_at: datetime, duration: timedelta, pauses: list[tuple[datetime, datetime | None]]):
    """24x7 reference: every pause that starts before the due instant pushes it back."""
    due = opened_at + duration
    for start, end in pauses:
        if start >= due:
            continue
        if end is None:
            return None
        due += end - start
    return due


@settings(max_examples=200, deadline=None)
@given(command_scripts())
def test_replaying_history_gives_the_same_state(script: list[tuple[str, int, str]]) -> None:
    clocks, at = opened(), T0
    pauses: list[tuple[datetime, datetime | None]] = []
    opened_at = T0
    for command, gap, target in script:
        at += timedelta(seconds=gap)
        try:
            if command == "satisfy":
                events = clocks.satisfy(target, at)
            elif command == "reopen":
                events = clocks.open_cycle(at, POLICY, ALWAYS)
            else:
                events = getattr(clocks, command)(at)
        except ClockError:
            continue  # refused commands leave no trace
        before = clocks.events
        clocks = clocks.append(events)
        assert clocks.events[: len(before)] == before
        if command == "reopen":
            pauses, opened_at = [], at
        elif command == "pause":
            pauses.append((at, None))
        elif command == "resume":
            pauses[-1] = (pauses[-1][0], at)
        cycle = clocks.current
        if cycle.is_open and cycle.outcome("resolution") is None:
            assert cycle.due_at("resolution") == _oracle_due(opened_at, RESOLUTION.duration, pauses)
        if cycle.is_open and cycle.outcome("first_response") is None:
            assert cycle.due_at("first_response") == opened_at + FIRST_RESPONSE.duration

    replayed = TicketClocks.replay(clocks.events)
    assert replayed.snapshot() == clocks.snapshot()
    assert replayed.events == clocks.events
    one_by_one = TicketClocks()
    for e in clocks.events:
        one_by_one = one_by_one.append([e])
    assert one_by_one.snapshot() == clocks.snapshot()
    for cycle in clocks.cycles:  # at most one warning and one breach per target per cycle
        for name in ("first_response", "resolution"):
            for kind in ("warned", "breached"):
                n = sum(e.kind == kind and e.target == name and e.cycle == cycle.number for e in clocks.events)
                assert n <= 1


# ---------------------------------------------------------------------------- refusals


def test_commands_after_stop_are_refused() -> None:
    clocks = opened()
    clocks, _ = do(clocks, "stop", T0 + 3 * H)
    later = T0 + 4 * H
    for call in (
        lambda: clocks.pause(later),
        lambda: clocks.resume(later),
        lambda: clocks.satisfy("first_response", later),
        lambda: clocks.stop(later),
        lambda: clocks.start(Target("escalation_ack", 1 * H), later),
        lambda: clocks.due_at("resolution"),
    ):
        with pytest.raises(ClockError, match="was stopped"):
            call()
    with pytest.raises(ClockError, match="is stopped"):
        clocks.append([ClockEvent("paused", 1, later)])  # a forged event is refused on replay too
    assert clocks.tick(later) == []  # a late timer is harmless
    assert isinstance(ClockError("x"), ValueError)


def test_time_never_runs_backwards() -> None:
    clocks = opened()
    clocks, _ = do(clocks, "pause", T0 + 2 * H)
    with pytest.raises(ClockError, match="backwards"):
        clocks.resume(T0 + 1 * H)
    with pytest.raises(ClockError, match="timezone-aware"):
        clocks.resume(datetime(2026, 3, 2, 12, 0))


def test_escalation_ack_starts_on_escalation_and_never_restarts_in_the_cycle() -> None:
    clocks = opened()
    ack = Target("escalation_ack", 30 * MIN, warning_percent=50)
    clocks, events = do(clocks, "start", ack, T0 + 2 * H)
    assert kinds(events) == [("started", "escalation_ack")]
    assert clocks.due_at("escalation_ack") == T0 + 2 * H + 30 * MIN
    with pytest.raises(ClockError, match="never restart"):
        clocks.start(ack, T0 + 2 * H + 10 * MIN)
    clocks, events = do(clocks, "satisfy", "escalation_ack", T0 + 2 * H + 20 * MIN)
    assert clocks.current.outcome("escalation_ack").result == "met"

    # A pausing target started while the ticket is pending starts paused.
    pending, _ = do(opened(), "pause", T0 + 1 * H)
    pausing_ack = Target("escalation_ack", 30 * MIN, pauses_when_pending=True)
    pending, events = do(pending, "start", pausing_ack, T0 + 2 * H)
    assert events[0].details["paused"] is True and pending.due_at("escalation_ack") is None
    pending, _ = do(pending, "resume", T0 + 3 * H)
    assert pending.due_at("escalation_ack") == T0 + 3 * H + 30 * MIN


def test_absolute_warning_fires_that_long_before_due_when_earlier_than_the_percentage() -> None:
    # 8 h target: 75 % would warn after 6 h; "2 h 30 min before due" warns after 5 h 30 min.
    target = Target("resolution", 8 * H, warning_percent=75, warning_before=timedelta(hours=2, minutes=30))
    assert target.warning_after == timedelta(hours=5, minutes=30)
    late = Target("resolution", 8 * H, warning_percent=50, warning_before=timedelta(hours=1))
    assert late.warning_after == 4 * H  # the percentage comes first: it wins
    eager = Target("first_response", H, warning_before=2 * H)
    assert eager.warning_after == timedelta(0)  # longer than the target: warn at once


def test_absolute_warning_is_recorded_at_its_instant() -> None:
    clocks = TicketClocks()
    target = Target("resolution", 8 * H, warning_before=timedelta(hours=3))
    clocks = clocks.append(clocks.open_cycle(T0, [target], ALWAYS))
    assert clocks.warn_at("resolution") == T0 + 5 * H
    [warned] = clocks.tick(T0 + 5 * H)
    assert (warned.kind, warned.target) == ("warned", "resolution")


# ---------------------------------------------------------------------------- reclassification (issue #14.3)


def test_reclassification_to_a_tighter_target_counts_it_from_the_targets_start() -> None:
    clocks = opened()  # resolution 8 h from T0
    clocks, events = do(clocks, "reclassify", T0 + H, (Target("resolution", 4 * H, pauses_when_pending=True),),
                        {"severity": "critical"})
    assert kinds(events) == [("reclassified", None)]
    assert events[0].details["severity"] == "critical" and events[0].details["kept"] == ()
    assert clocks.due_at("resolution") == T0 + 4 * H  # as if 4 h had applied since the first contact
    assert TicketClocks.replay(clocks.events).due_at("resolution") == T0 + 4 * H


def test_reclassification_never_loosens_a_target_already_promised() -> None:
    clocks = opened()
    clocks, events = do(clocks, "reclassify", T0 + H, (Target("first_response", 8 * H),
                                                        Target("resolution", 72 * H, pauses_when_pending=True)))
    assert events[0].details["targets"] == () and set(events[0].details["kept"]) == {"first_response", "resolution"}
    assert (clocks.due_at("first_response"), clocks.due_at("resolution")) == (T0 + 4 * H, T0 + 8 * H)


def test_a_target_already_past_the_tighter_duration_is_due_at_the_change_never_before() -> None:
    clocks = opened()  # first response 4 h
    clocks, _ = do(clocks, "reclassify", T0 + 3 * H, (Target("first_response", timedelta(minutes=15)),))
    assert clocks.due_at("first_response") == T0 + 3 * H
    assert kinds(clocks.tick(T0 + 3 * H)) == [("warned", "first_response"), ("breached", "first_response")]
    clocks, events = do(clocks, "satisfy", "first_response", T0 + 3 * H + MIN)
    assert kinds(events) == [("breached", "first_response"), ("stopped", "first_response")]


def test_reclassification_of_a_paused_target_tightens_its_remaining_time() -> None:
    clocks = opened()
    clocks, _ = do(clocks, "pause", T0 + 2 * H)  # resolution paused with 2 h used
    clocks, _ = do(clocks, "reclassify", T0 + 5 * H, (Target("resolution", 4 * H, pauses_when_pending=True),))
    assert clocks.due_at("resolution") is None  # still paused
    clocks, _ = do(clocks, "resume", T0 + 10 * H)
    assert clocks.due_at("resolution") == T0 + 12 * H  # 2 h left of the 4 h


def test_reclassification_needs_an_open_cycle() -> None:
    clocks, _ = do(opened(), "stop", T0 + H)
    with pytest.raises(ClockError):
        clocks.reclassify(T0 + 2 * H, (Target("resolution", H),))
