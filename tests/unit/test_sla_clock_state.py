"""The stored clock state (`clock_ticket.clock_state`, clocks.encode_state) is only a cache of
the event history: after every kind of event it must restore to exactly what a replay of the
events gives, and a restored ticket must go on (tick, pause, satisfy, stop, reopen) exactly as
the replayed one does. The timer trusts it instead of replaying, so these tests are the proof
that doing so changes no clock (DOMAIN.md §2)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kefu_escalation.configuration.calendars import BusinessCalendar
from kefu_escalation.clocks.projector import STATE_VERSION, decode_state, encode_calendar, encode_state
from kefu_escalation.clocks.model import EVENT_KINDS, ClockError, Target, TicketClocks

H = timedelta(hours=1)
ALWAYS = BusinessCalendar.always()
OFFICE = BusinessCalendar("cn-office", "Asia/Shanghai", {wd: [(time(9), time(18))] for wd in range(5)})
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
POLICY = (Target("first_response", 4 * H, pauses_when_pending=False, warning_percent=75),
          Target("resolution", 8 * H, pauses_when_pending=True, warning_percent=80,
                 warning_before=timedelta(minutes=30, microseconds=7)))
ACK = Target("escalation_ack", timedelta(seconds=90.5), warning_percent=100)


def restored(clocks: TicketClocks) -> TicketClocks:
    text = encode_state(clocks)
    assert text is not None
    again = decode_state(text, encode_calendar(clocks))
    assert again is not None
    return again


def assert_same_state(restored_clocks: TicketClocks, replayed: TicketClocks) -> None:
    assert restored_clocks.current.snapshot() == replayed.current.snapshot()
    assert restored_clocks.last_at == replayed.last_at
    assert restored_clocks.next_deadline() == replayed.next_deadline()


def test_snapshot_equals_replay_after_every_kind_of_event() -> None:
    clocks = TicketClocks()
    seen: set[str] = set()
    script = [
        ("open_cycle", T0, POLICY, ALWAYS),  # cycle_opened, started
        ("tick", T0 + 3 * H),  # warned (first_response at 75 %)
        ("start", ACK, T0 + 3 * H),  # started (escalation_ack)
        ("pause", T0 + 3 * H + timedelta(minutes=10)),  # paused (cycle and resolution)
        ("tick", T0 + 5 * H),  # breached (first_response keeps running while pending)
        ("resume", T0 + 24 * H),  # resumed
        ("satisfy", "escalation_ack", T0 + 24 * H),  # stopped (late) for one target
        ("stop", T0 + 30 * H),  # met / stopped for the rest, then the cycle's stopped
        ("open_cycle", T0 + 40 * H, POLICY, OFFICE),  # reopen: cycle 2, another calendar
        ("satisfy", "first_response", T0 + 41 * H),  # met
        ("reclassify", T0 + 41 * H, (Target("resolution", 2 * H, pauses_when_pending=True),)),  # reclassified
    ]
    for command, *args in script:
        events = getattr(clocks, command)(*args)
        clocks = clocks.append(events)
        seen.update(e.kind for e in events)
        replayed = TicketClocks.replay(clocks.events)
        assert_same_state(restored(clocks), replayed)
        assert_same_state(restored(replayed), replayed)  # and from a replay (the lazy backfill)
    assert seen == set(EVENT_KINDS)


def test_snapshot_of_a_ticket_without_clocks_is_none_and_unknown_versions_are_replayed() -> None:
    assert encode_state(TicketClocks()) is None and encode_calendar(TicketClocks()) is None
    clocks = TicketClocks().append(TicketClocks().open_cycle(T0, POLICY, OFFICE))
    text, calendar = encode_state(clocks), encode_calendar(clocks)
    assert text is not None and calendar is not None
    assert decode_state(None, calendar) is None and decode_state(text, None) is None
    assert decode_state(text.replace(f'"v":{STATE_VERSION}', f'"v":{STATE_VERSION + 1}'), calendar) is None
    assert decode_state(text, calendar).current.calendar == OFFICE


@st.composite
def scripts(draw: st.DrawFn) -> list[tuple[str, int, str]]:
    return draw(st.lists(st.tuples(
        st.sampled_from(["pause", "resume", "satisfy", "tick", "stop", "reopen", "ack"]),
        st.integers(min_value=0, max_value=5 * 3600),
        st.sampled_from(["first_response", "resolution", "escalation_ack"]),
    ), max_size=25))


def command_events(clocks: TicketClocks, command: str, target: str, at: datetime,
                   calendar: BusinessCalendar) -> list:
    """The events one scripted command returns (ClockError when the rules refuse it)."""
    if command == "satisfy":
        return clocks.satisfy(target, at)
    if command == "reopen":
        return clocks.open_cycle(at, POLICY, calendar)
    if command == "ack":
        return clocks.start(ACK, at)
    return getattr(clocks, command)(at)


@settings(max_examples=150, deadline=None)
@given(scripts(), st.sampled_from([ALWAYS, OFFICE]))
def test_restored_clocks_go_on_exactly_like_the_replayed_ones(script: list[tuple[str, int, str]],
                                                              calendar: BusinessCalendar) -> None:
    """Every command on the clocks restored from the snapshot returns the same events (and the
    same refusals) as on the replay of the whole history."""
    clocks, at = TicketClocks().append(TicketClocks().open_cycle(T0, POLICY, calendar)), T0
    for command, gap, target in script:
        at += timedelta(seconds=gap)
        outcomes = []
        for subject in (clocks, restored(clocks)):
            try:
                events = command_events(subject, command, target, at, calendar)
            except ClockError as err:
                outcomes.append(("refused", type(err)))
                continue
            outcomes.append(("events", [(e.kind, e.cycle, e.at, e.target, dict(e.details)) for e in events]))
            if subject is clocks:
                accepted = events
        assert outcomes[0] == outcomes[1]
        if outcomes[0][0] == "events":
            clocks = clocks.append(accepted)
            assert_same_state(restored(clocks), TicketClocks.replay(clocks.events))


@settings(max_examples=150, deadline=None)
@given(scripts(), st.integers(min_value=0, max_value=12 * 3600), st.sampled_from([ALWAYS, OFFICE]))
def test_firing_in_place_records_what_ticking_each_deadline_records(
        script: list[tuple[str, int, str]], later: int, calendar: BusinessCalendar) -> None:
    """`fire_due` (the timer, on its own restored copy) gives the events and the state of the
    tick/append loop over each due deadline."""
    clocks, at = TicketClocks().append(TicketClocks().open_cycle(T0, POLICY, calendar)), T0
    for command, gap, target in script:
        at += timedelta(seconds=gap)
        try:
            clocks = clocks.append(command_events(clocks, command, target, at, calendar))
        except ClockError:
            continue
    now = at + timedelta(seconds=later)
    looped, expected = clocks, []
    deadline = looped.next_deadline()
    while deadline is not None and deadline <= now:
        events = looped.tick(max(deadline, looped.last_at))
        if not events:
            break
        looped = looped.append(events)
        expected += events
        deadline = looped.next_deadline()
    mine = restored(clocks)
    events, next_deadline = mine.fire_due(now)
    assert events == expected
    assert next_deadline == looped.next_deadline()
    assert_same_state(mine, looped)
