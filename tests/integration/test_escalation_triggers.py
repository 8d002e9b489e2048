"""Escalation triggers, acknowledgement clocks and notifications (DOMAIN.md §2, issue #4).

Inbox rows are written directly (escalation_support.Inbox) and projected with a ManualClock's
instants; timers run with explicit `now`s. Nothing sleeps, real PostgreSQL throughout.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from escalation_support import H, OFFICE, T0, Inbox, escalation_database, sla
from kefu_escalation.clocks.projector import ClockProjector
from kefu_escalation.escalations.escalator import Escalator, TriggerSettings
from kefu_common.clock import ManualClock
from kefu_common.signing import verify_signature
from kefu_common.timestamps import RFC3339_UTC, rfc3339
from kefu_escalation.notifications import LogSink, NotificationDispatcher, WebhookSink
from kefu_escalation.configuration.service import load_calendar

M = timedelta(minutes=1)


@pytest.fixture(scope="module")
async def db(database_url: str):
    async with escalation_database(database_url) as database:
        yield database


def projector(inbox: Inbox, **settings: Any) -> ClockProjector:
    settings.setdefault("staff_calendar", "24x7")
    return ClockProjector(cursor=inbox.cursor,
                          escalator=Escalator(TriggerSettings(**settings), calendars=load_calendar))


async def escalations(db, ticket: uuid.UUID) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT trigger, trigger_key, from_level, to_level, to_party, cycle, created_at, ack_due_at, status, id "
            "FROM escalation.escalation WHERE ticket_id = :t ORDER BY created_at, to_level"), {"t": ticket})).all())


async def notifications(db, ticket: uuid.UUID) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT kind, level, recipient, created_at, next_attempt_at, status, attempts, payload "
            "FROM escalation.notification WHERE ticket_id = :t ORDER BY id"), {"t": ticket})).all())


async def tick(db, p: ClockProjector, now: datetime) -> int:
    async with db.session() as session:
        return await p.due_ticks(session, now=now, limit=1000)


async def acks(db, p: ClockProjector, now: datetime) -> int:
    async with db.session() as session:
        return await p.escalator.due_acks(session, now=now, limit=1000)


# ------------------------------------------------------------------------------ matrix


async def test_matrix_level_at_creation_escalates_once_with_an_ack_clock(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0, level="L2", ack=30 * M)
    await inbox.project(p)
    await inbox.project(p, replay=True)  # replaying the inbox escalates nothing twice

    [e] = await escalations(db, inbox.ticket)
    assert (e.trigger, e.from_level, e.to_level, e.to_party, e.cycle) == ("matrix", "L0", "L2", "team_lead", 1)
    assert e.ack_due_at == e.created_at + 30 * M and e.status == "open"
    [n] = await notifications(db, inbox.ticket)
    assert (n.kind, n.level, n.recipient) == ("escalation", "L2", "team_lead:care")


async def test_matrix_level_l0_does_not_escalate(db) -> None:
    inbox = Inbox(db)
    await inbox.created(T0)
    await inbox.project(projector(inbox))
    assert await escalations(db, inbox.ticket) == []


# ------------------------------------------------------------------------------ clocks


async def test_warning_notifies_and_never_escalates(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0)  # first response 1 h: warns at 45 min
    await inbox.project(p)
    await tick(db, p, T0 + 50 * M)

    assert await escalations(db, inbox.ticket) == []
    [n] = await notifications(db, inbox.ticket)
    assert n.kind == "warning" and n.payload["target"] == "first_response"


async def test_breach_escalates_one_level_once_per_target_and_cycle(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0)  # first response 1 h, resolution 8 h
    await inbox.project(p)
    await tick(db, p, T0 + 2 * H)
    await tick(db, p, T0 + 3 * H)  # ticking again changes nothing
    await tick(db, p, T0 + 9 * H)

    rows = await escalations(db, inbox.ticket)
    assert [(e.trigger_key, e.from_level, e.to_level) for e in rows] == [
        ("breach:first_response", "L0", "L1"), ("breach:resolution", "L1", "L2")]
    assert rows[0].created_at == T0 + H  # recorded at the breach instant, not the timer's time
    assert rows[1].created_at == T0 + 8 * H


async def test_breach_at_l3_notifies_instead_of_escalating(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0, level="L3")
    await inbox.project(p)
    await tick(db, p, T0 + 2 * H)

    assert [e.trigger for e in await escalations(db, inbox.ticket)] == ["matrix"]
    kinds = [(n.kind, n.level) for n in await notifications(db, inbox.ticket)]
    assert ("breach", "L3") in kinds


# ------------------------------------------------------------------------------ event triggers


async def test_proactive_contacts_reaching_n_escalate_once(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox, contacts_threshold=3)
    await inbox.created(T0)  # the first call is contact 1
    await inbox.contact("outbound", T0 + M)  # our callback is not a proactive contact
    await inbox.contact("inbound", T0 + 2 * M)  # 2
    await inbox.project(p)
    assert await escalations(db, inbox.ticket) == []

    await inbox.contact("inbound", T0 + 3 * M)  # 3: escalate
    await inbox.contact("inbound", T0 + 4 * M)  # 4: same trigger, same cycle: nothing more
    await inbox.project(p)
    [e] = await escalations(db, inbox.ticket)
    assert (e.trigger, e.to_level, e.created_at) == ("contacts", "L1", T0 + 3 * M)


async def test_reopen_count_reaching_n_escalates_in_the_new_cycle(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox, reopen_threshold=2)
    await inbox.created(T0)
    await inbox.status("resolved", T0 + H)
    await inbox.add("ticket.status_changed", T0 + 2 * H, action="reopened", reopen_count=1)
    await inbox.status("resolved", T0 + 3 * H)
    await inbox.project(p)
    assert await escalations(db, inbox.ticket) == []

    await inbox.add("ticket.status_changed", T0 + 4 * H, action="reopened", reopen_count=2)
    await inbox.project(p)
    [e] = await escalations(db, inbox.ticket)
    assert (e.trigger, e.cycle, e.to_level) == ("reopens", 3, "L1")


async def test_anxious_customer_escalates_once_per_cycle(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox, anxious_views=5)
    await inbox.created(T0)
    for views in (3, 4, 5, 6):
        await inbox.add("ticket.progress_viewed", T0 + views * M, viewer="customer", view_count=views,
                        views_last_hour=views)
    await inbox.project(p)
    [e] = await escalations(db, inbox.ticket)
    assert (e.trigger, e.created_at) == ("anxious_customer", T0 + 5 * M)


# ------------------------------------------------------------------------------ signals


async def raise_signal(db, p: ClockProjector, ticket: uuid.UUID, signal_id: str, kind: str,
                       detail: str = "客户说要打12315") -> tuple[bool, Any, str]:
    async with db.session() as session:
        return await p.escalator.raise_signal(
            session, signal_id=signal_id, ticket_id=ticket, kind=kind, source="scoring", detail=detail,
            conversation_id="c-1", occurred_at=T0 + H, now=T0 + H)


async def test_risk_signal_is_idempotent_by_signal_id(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0)
    await inbox.project(p)
    signal = f"sig-{uuid.uuid4()}"

    accepted, first, _ = await raise_signal(db, p, inbox.ticket, signal, "abuse")
    again, second, _ = await raise_signal(db, p, inbox.ticket, signal, "abuse")

    assert accepted and not again
    assert first is not None and second is not None and first.id == second.id
    [e] = await escalations(db, inbox.ticket)
    assert (e.trigger_key, e.to_level) == ("risk_signal:abuse", "L1")


async def test_regulator_media_legal_signals_go_straight_to_l3(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0)
    await inbox.project(p)
    _, row, _ = await raise_signal(db, p, inbox.ticket, f"sig-{uuid.uuid4()}", "regulator")
    assert row is not None and (row.from_level, row.to_level, row.to_party) == ("L0", "L3", "crisis_team")


async def test_signal_before_the_ticket_is_known_applies_when_its_clocks_start(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    accepted, row, note = await raise_signal(db, p, inbox.ticket, f"sig-{uuid.uuid4()}", "legal")
    assert accepted and row is None and note == "clocks_not_known_yet"

    await inbox.created(T0)
    await inbox.project(p)
    [e] = await escalations(db, inbox.ticket)
    assert (e.trigger, e.to_level) == ("risk_signal", "L3")


async def signal_status(db, signal_id: str) -> tuple[str, str]:
    async with db.engine.connect() as conn:
        row = (await conn.execute(text("SELECT status, note FROM escalation.risk_signal WHERE signal_id = :s"),
                                  {"s": signal_id})).one()
    return row.status, row.note


async def test_a_signal_for_a_ticket_that_never_appears_expires_and_is_never_applied(db) -> None:
    """Issue #14.23: pending is not for ever; after signal_pending_seconds it is `expired`."""
    inbox = Inbox(db)
    p = projector(inbox, signal_pending_seconds=3600)
    signal_id = f"sig-{uuid.uuid4()}"
    await raise_signal(db, p, inbox.ticket, signal_id, "regulator")  # received at T0 + 1 h
    async with db.session() as session:
        await p.escalator.expire_signals(session, now=T0 + H + 59 * M, limit=1000)
    assert await signal_status(db, signal_id) == ("pending", "clocks_not_known_yet")
    async with db.session() as session:
        assert await p.escalator.expire_signals(session, now=T0 + 2 * H, limit=1000) >= 1
    assert await signal_status(db, signal_id) == ("expired", "ticket_never_seen")

    await inbox.created(T0 + 3 * H)  # even if the ticket turns up after all: terminal
    await inbox.project(p)
    assert await escalations(db, inbox.ticket) == []
    accepted, row, note = await raise_signal(db, p, inbox.ticket, signal_id, "regulator")
    assert (accepted, row, note) == (False, None, "ticket_never_seen")  # a retry gets the same answer


# ------------------------------------------------------------------------------ acknowledgement


async def test_unacknowledged_escalation_escalates_again_when_its_ack_clock_runs_out(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0, level="L1", ack=30 * M)
    await inbox.project(p)
    await acks(db, p, T0 + 29 * M)
    assert [e.status for e in await escalations(db, inbox.ticket)] == ["open"]

    await acks(db, p, T0 + 31 * M)
    await acks(db, p, T0 + 40 * M)  # the timer again: nothing twice
    first, second = await escalations(db, inbox.ticket)
    assert first.status == "ack_breached"
    assert (second.trigger, second.from_level, second.to_level) == ("ack_timeout", "L1", "L2")
    assert second.trigger_key == f"ack_timeout:{first.id}"
    assert second.created_at == T0 + 30 * M and second.ack_due_at == T0 + 60 * M


async def test_acknowledged_escalation_never_times_out(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0, level="L1", ack=30 * M)
    await inbox.project(p)
    [e] = await escalations(db, inbox.ticket)
    async with db.session() as session:
        await p.escalator.acknowledge(session, e.id, actor="lead-1", role="lead", now=T0 + 10 * M)
    async with db.session() as session:
        again = await p.escalator.acknowledge(session, e.id, actor="lead-2", role="lead", now=T0 + 20 * M)
    assert again.status == "acknowledged" and again.acknowledged_by == "lead-1"  # idempotent

    await acks(db, p, T0 + 2 * H)
    assert [x.status for x in await escalations(db, inbox.ticket)] == ["acknowledged"]


async def test_below_l3_the_ack_clock_runs_on_the_staff_calendar_its_notification_waits_for(db) -> None:
    """Issue #14.5: an L1 escalation at 03:21 Beijing on a 24x7 ticket is notified at the staff's
    next opening (09:00), and its 2 h acknowledgement clock counts from there (11:00), not 05:21."""
    inbox = Inbox(db)
    p = projector(inbox, staff_calendar=OFFICE["name"])
    night = datetime(2026, 11, 2, 19, 21, tzinfo=UTC)  # Tue 03:21 Shanghai
    await inbox.created(night, calendar="24x7", level="L1", ack=2 * H)
    await inbox.project(p)
    [e] = await escalations(db, inbox.ticket)
    [n] = await notifications(db, inbox.ticket)
    assert n.next_attempt_at == datetime(2026, 11, 3, 1, 0, tzinfo=UTC)  # Tue 09:00 Shanghai
    assert e.ack_due_at == datetime(2026, 11, 3, 3, 0, tzinfo=UTC)  # 2 working hours later
    assert e.ack_due_at > n.next_attempt_at  # told before the clock can run out


async def test_at_l3_the_crisis_team_is_told_at_once_and_its_ack_clock_runs_on_the_ticket_calendar(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox, staff_calendar=OFFICE["name"])
    night = datetime(2026, 11, 2, 19, 21, tzinfo=UTC)  # Tue 03:21 Shanghai
    await inbox.created(night, calendar="24x7", level="L3", ack=2 * H)
    await inbox.project(p)
    [e] = await escalations(db, inbox.ticket)
    [n] = await notifications(db, inbox.ticket)
    assert n.next_attempt_at == night  # at once
    assert e.ack_due_at == night + 2 * H  # 05:21 on the ticket's 24x7 calendar


async def test_an_ack_timeout_below_l3_never_fires_before_the_party_was_told(db) -> None:
    """The breach escalation of the timer (timer_facts) follows the same rule as `escalate`."""
    inbox = Inbox(db)
    p = projector(inbox, staff_calendar=OFFICE["name"])
    friday_evening = datetime(2026, 11, 6, 9, 45, tzinfo=UTC)  # Fri 17:45 Shanghai
    await inbox.created(friday_evening, calendar="24x7", ack=30 * M)  # first response 1 h, 24x7
    await inbox.project(p)
    await tick(db, p, friday_evening + 2 * H)  # breached at 18:45 Friday: escalated to L1
    [e] = await escalations(db, inbox.ticket)
    [n] = [n for n in await notifications(db, inbox.ticket) if n.kind == "escalation"]
    # The office closed at 18:00; its next opening is the make-up workday Sunday 09:00 (01:00 UTC).
    assert n.next_attempt_at == datetime(2026, 11, 8, 1, 0, tzinfo=UTC)
    assert e.ack_due_at == datetime(2026, 11, 8, 1, 30, tzinfo=UTC)
    await acks(db, p, datetime(2026, 11, 8, 1, 0, tzinfo=UTC))
    assert [x.status for x in await escalations(db, inbox.ticket)] == ["open"]


async def test_ack_timeout_after_resolve_does_not_escalate(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0, level="L1", ack=30 * M)
    await inbox.status("resolved", T0 + 10 * M)
    await inbox.project(p)
    await acks(db, p, T0 + H)
    assert [(e.trigger, e.status) for e in await escalations(db, inbox.ticket)] == [("matrix", "ack_breached")]


# ------------------------------------------------------------------------------ notifications


async def test_notifications_below_l3_wait_for_staff_working_hours(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox, staff_calendar=OFFICE["name"])
    saturday = datetime(2026, 11, 7, 4, 0, tzinfo=UTC)  # Sat 12:00 Shanghai
    await inbox.created(saturday, level="L2")
    await inbox.project(p)
    async with db.session() as session:
        await p.escalator.raise_signal(session, signal_id=f"sig-{uuid.uuid4()}", ticket_id=inbox.ticket,
                                       kind="media", source="scoring", detail="曝光", conversation_id="",
                                       occurred_at=saturday, now=saturday)
    l2, l3 = await notifications(db, inbox.ticket)
    assert l2.level == "L2" and l2.next_attempt_at == datetime(2026, 11, 8, 1, 0, tzinfo=UTC)  # 调休 Sunday 09:00
    assert l3.level == "L3" and l3.next_attempt_at == saturday  # the crisis team at once


class Receiver:
    """A tiny real HTTP server standing in for a partner's webhook endpoint."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()


async def test_webhook_receiver_failing_twice_gets_the_notification_on_the_third_try(db) -> None:
    first = T0 + 365 * 24 * H  # later than anything else queued in this module
    # deliver everything queued earlier first
    await NotificationDispatcher([LogSink()]).dispatch_due(db, clock=ManualClock(first - M), limit=100_000)
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(first, level="L1")
    await inbox.project(p)
    receiver = Receiver([500, 503])
    async with receiver as url:
        sink = WebhookSink(url, "s3cret-s3cret-s3cret")
        dispatcher = NotificationDispatcher([sink], backoff_base=timedelta(seconds=2))
        for now in (first, first + timedelta(seconds=1), first + timedelta(seconds=2),
                    first + timedelta(seconds=5), first + timedelta(seconds=6)):
            await dispatcher.dispatch_due(db, clock=ManualClock(now), limit=1000)
        await sink.close()
    [n] = await notifications(db, inbox.ticket)
    assert (n.status, n.attempts) == ("sent", 3)  # 500 at +0 s, 503 at +2 s (backoff 2 s), 200 at +6 s (4 s)
    ids = {json.loads(b)["id"] for _, b in receiver.requests if json.loads(b)["ticket_id"] == str(inbox.ticket)}
    assert len(ids) == 1  # the same notification id every time: receivers de-duplicate by it


async def test_webhook_signature_verifies_with_the_shared_secret(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0, level="L2")
    await inbox.project(p)
    receiver = Receiver([])
    async with receiver as url:
        sink = WebhookSink(url, "s3cret-s3cret-s3cret")
        await NotificationDispatcher([sink]).dispatch_due(db, clock=ManualClock(T0 + M), limit=1000)
        await sink.close()
    mine = [(h, b) for h, b in receiver.requests if json.loads(b)["ticket_id"] == str(inbox.ticket)]
    [(headers, body)] = mine
    # Signed exactly like partner webhooks: one receiver-side verifier for both.
    ts, signature = headers["kefu-timestamp"], headers["kefu-signature"]
    assert (headers["kefu-event-type"], headers["kefu-delivery-id"]) == (
        "escalation.notification", str(json.loads(body)["id"]))
    sent_at = datetime.fromtimestamp(int(ts), UTC)
    assert verify_signature("s3cret-s3cret-s3cret", timestamp=ts, body=body, signature=signature, now=sent_at)
    assert not verify_signature("another-secret-here", timestamp=ts, body=body, signature=signature, now=sent_at)
    assert json.loads(body)["payload"]["to_level"] == "L2"


async def test_a_notification_webhook_carries_its_instants_in_the_one_timestamp_format(db) -> None:
    """RFC 3339, UTC, `Z`, six fractional digits (issue #13), like every gateway body and partner
    webhook: the envelope's created_at / sent_at and the payload's ack_due_at."""
    inbox = Inbox(db)
    await inbox.created(T0 + 2 * H, level="L2")  # a whole-second instant: no fraction to drop
    await inbox.project(projector(inbox))
    receiver = Receiver([])
    async with receiver as url:
        sink = WebhookSink(url, "s3cret-s3cret-s3cret")
        await NotificationDispatcher([sink]).dispatch_due(db, clock=ManualClock(T0 + 2 * H + M), limit=1000)
        await sink.close()
    [body] = [json.loads(b) for _, b in receiver.requests if json.loads(b)["ticket_id"] == str(inbox.ticket)]
    instants = [body["created_at"], body["sent_at"], body["payload"]["ack_due_at"]]
    assert all(RFC3339_UTC.fullmatch(v) for v in instants), instants
    assert body["sent_at"] == rfc3339(T0 + 2 * H + M)


# ------------------------------------------------------------------------------ replicas


async def test_two_timer_replicas_fire_each_breach_and_escalation_once(db) -> None:
    tickets = []
    for _ in range(40):
        inbox = Inbox(db)
        await inbox.created(T0)
        await inbox.project(projector(inbox))
        tickets.append(inbox.ticket)
    a, b = projector(Inbox(db)), projector(Inbox(db))
    await asyncio.gather(tick(db, a, T0 + 2 * H), tick(db, b, T0 + 2 * H), tick(db, a, T0 + 2 * H))

    async with db.engine.connect() as conn:
        breaches = await conn.scalar(text(
            "SELECT count(*) FROM escalation.clock_event WHERE kind = 'breached' AND ticket_id = ANY(:t)"),
            {"t": tickets})
        escalated = (await conn.execute(text(
            "SELECT ticket_id, count(*) FROM escalation.escalation WHERE ticket_id = ANY(:t) GROUP BY ticket_id"),
            {"t": tickets})).all()
    assert breaches == 40  # first response of each ticket, once
    assert sorted(n for _, n in escalated) == [1] * 40


async def test_timer_facts_and_escalations_are_counted_in_metrics(db) -> None:
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    breaches = sample("kefu_escalation_clock_facts_total", kind="breached", target="first_response")
    escalated = sample("kefu_escalations_total", trigger="breach", to_level="L1")
    lag_count = sample("kefu_escalation_timer_lag_seconds_count")
    inbox = Inbox(db)
    p = projector(inbox)
    long_ago = T0 - 400 * 24 * H  # before every other test's deadlines: this tick fires only ours
    await inbox.created(long_ago)
    await inbox.project(p)
    await tick(db, p, long_ago + 2 * H)
    assert sample("kefu_escalation_clock_facts_total", kind="breached", target="first_response") == breaches + 1
    assert sample("kefu_escalations_total", trigger="breach", to_level="L1") == escalated + 1
    assert sample("kefu_escalation_timer_lag_seconds_count") == lag_count + 2  # the warning and the breach


async def test_a_late_first_response_recorded_before_the_timer_ran_still_escalates_the_open_cycle(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0)  # first response due at T0 + 1 h
    await inbox.contact("outbound", T0 + 2 * H)  # answered late; no timer pass in between
    await inbox.project(p)
    [e] = await escalations(db, inbox.ticket)
    assert (e.trigger_key, e.to_level, e.created_at) == ("breach:first_response", "L1", T0 + 2 * H)
    assert [n.kind for n in await notifications(db, inbox.ticket)] == ["escalation"]


async def test_a_breach_found_only_at_resolve_escalates_nothing(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0)
    await inbox.status("resolved", T0 + 10 * H)  # both targets ended late, the cycle with them
    await inbox.project(p)
    assert await escalations(db, inbox.ticket) == []


def test_notification_delivery_times_follow_staff_hours_and_reuse_a_known_gap() -> None:
    from kefu_escalation.configuration.calendars import BusinessCalendar
    from kefu_escalation.escalations.escalator import Notice

    office = BusinessCalendar.from_spec(OFFICE)
    escalator = Escalator(TriggerSettings(), calendars=load_calendar)
    sat_noon, sat_1pm = datetime(2026, 11, 7, 4, 0, tzinfo=UTC), datetime(2026, 11, 7, 5, 0, tzinfo=UTC)
    sun_10, sun_20 = datetime(2026, 11, 8, 2, 0, tzinfo=UTC), datetime(2026, 11, 8, 12, 0, tzinfo=UTC)
    notices = [Notice(uuid.uuid4(), "warning", level, at, f"k{i}", {})
               for i, (level, at) in enumerate([("L1", sat_noon), ("L2", sat_1pm), ("L3", sat_1pm),
                                                ("L1", sun_10), ("L1", sun_20)])]
    assert escalator._deliver_times(office, notices) == [
        datetime(2026, 11, 8, 1, 0, tzinfo=UTC),  # Saturday -> the make-up Sunday 09:00 Shanghai
        datetime(2026, 11, 8, 1, 0, tzinfo=UTC),  # the same gap, the same opening
        sat_1pm,  # L3: at once
        sun_10,  # working time: at once
        datetime(2026, 11, 9, 1, 0, tzinfo=UTC),  # Sunday evening -> Monday 09:00
    ]


# ------------------------------------------------------------------------------ next update


async def updates(db, p: ClockProjector, now: datetime) -> int:
    async with db.session() as session:
        return await p.escalator.due_updates(session, now=now, limit=1000)


async def next_update_due(db, ticket: uuid.UUID) -> datetime | None:
    async with db.engine.connect() as conn:
        return await conn.scalar(text("SELECT next_update_due FROM escalation.clock_ticket WHERE ticket_id = :t"),
                                 {"t": ticket})


async def test_next_update_is_owed_every_n_after_the_latest_progress_entry(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    long_ago = T0 - 200 * 24 * H  # only this test's windows fall due when it runs the timer
    await inbox.created(long_ago, next_update=4 * H, first_response=24 * H, resolution=48 * H)
    await inbox.project(p)
    assert await next_update_due(db, inbox.ticket) == long_ago + 4 * H  # from the first contact
    await inbox.add("ticket.progress_added", long_ago + 3 * H, progress_id="p1", actor="a")
    await inbox.project(p)
    assert await next_update_due(db, inbox.ticket) == long_ago + 7 * H  # a new window after each entry

    await updates(db, p, long_ago + 6 * H)
    assert [e.trigger_key for e in await escalations(db, inbox.ticket)] == []  # still in time
    await updates(db, p, long_ago + 8 * H)
    [e] = await escalations(db, inbox.ticket)
    assert (e.trigger_key, e.to_level, e.created_at) == ("breach:next_update", "L1", long_ago + 7 * H)
    assert await next_update_due(db, inbox.ticket) is None  # nothing more until the next entry

    await inbox.add("ticket.progress_added", long_ago + 9 * H, progress_id="p2", actor="a")
    await inbox.project(p)
    await updates(db, p, long_ago + 14 * H)  # missed again: the same trigger notifies, no second escalation
    assert len(await escalations(db, inbox.ticket)) == 1
    assert "next_update_missed" in [n.kind for n in await notifications(db, inbox.ticket)]


async def test_pending_customer_owes_no_update_and_resuming_opens_a_fresh_window(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0, next_update=4 * H)
    await inbox.status("pending", T0 + H)
    await inbox.project(p)
    assert await next_update_due(db, inbox.ticket) is None
    await inbox.status("resumed", T0 + 10 * H)
    await inbox.project(p)
    assert await next_update_due(db, inbox.ticket) == T0 + 14 * H
    await inbox.status("resolved", T0 + 11 * H)
    await inbox.project(p)
    assert await next_update_due(db, inbox.ticket) is None


async def sla_of(db, ticket: uuid.UUID, now: datetime):
    from kefu_escalation.read_models.ticket_sla import ticket_sla

    async with db.session() as session:
        return await ticket_sla(session, ticket, now=now)


async def test_an_overdue_next_update_stays_visible_with_how_long_until_an_update_is_posted(db) -> None:
    """Issue #14.1: 9 h after the first contact on a 4 h next-update target the commitment is
    still shown (overdue by 5 h), before and after the timer fired the miss; a progress entry
    replaces it with the next window."""
    inbox = Inbox(db)
    p = projector(inbox)
    long_ago = T0 - 300 * 24 * H
    await inbox.created(long_ago, next_update=4 * H, first_response=24 * H, resolution=48 * H)
    await inbox.project(p)
    view = await sla_of(db, inbox.ticket, long_ago + 9 * H)
    assert (view.next_update_by, view.next_update_overdue) == (long_ago + 4 * H, 5 * H)

    await updates(db, p, long_ago + 9 * H)  # the miss fires (escalates)
    assert [e.trigger_key for e in await escalations(db, inbox.ticket)] == ["breach:next_update"]
    view = await sla_of(db, inbox.ticket, long_ago + 9 * H)
    assert (view.next_update_by, view.next_update_overdue) == (long_ago + 4 * H, 5 * H)

    await inbox.add("ticket.progress_added", long_ago + 10 * H, progress_id="p1", actor="a")
    await inbox.project(p)
    view = await sla_of(db, inbox.ticket, long_ago + 10 * H)
    assert (view.next_update_by, view.next_update_overdue) == (long_ago + 14 * H, timedelta(0))


# ------------------------------------------------------------------------------ reclassification (issue #14.3)


async def cell(db, severity: str, tier: str = "standard"):
    from kefu_escalation.configuration.service import resolve_sla

    async with db.session() as session:
        return await resolve_sla(session, tier=tier, sensitive=False, severity=severity, channel="phone",
                                 first_contact_at=T0)


def seconds(assignment, name: str) -> timedelta:
    return next(t.duration for t in assignment.targets if t.name == name)


async def test_raising_severity_re_resolves_the_matrix_escalates_and_tightens_the_open_cycle(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    low, critical = await cell(db, "low"), await cell(db, "critical")
    assert critical.level > low.level and seconds(critical, "resolution") < seconds(low, "resolution")
    await inbox.created(T0, severity="low", level=low.level, first_response=seconds(low, "first_response"),
                        resolution=seconds(low, "resolution"), ack=seconds(low, "escalation_ack"))
    await inbox.add("ticket.updated", T0 + 10 * M, actor="a", changes={"severity": "critical"},
                    classification={"severity": "critical", "customer_tier": "standard",
                                    "customer_sensitive": False, "channel": "phone"})
    await inbox.project(p)

    clocks = (await inbox.clocks()).current
    assert clocks.due_at("resolution") == T0 + seconds(critical, "resolution")
    assert clocks.due_at("first_response") == T0 + seconds(critical, "first_response")
    [e] = [e for e in await escalations(db, inbox.ticket) if e.trigger == "matrix"]
    assert (e.trigger_key, e.to_level, e.created_at) == ("matrix:standard/critical", critical.level, T0 + 10 * M)
    assert e.ack_due_at is not None
    history = [(r[1], r[2]) for r in await inbox.rows()]
    assert ("reclassified", None) in history  # recorded in the cycle's history


async def test_lowering_severity_never_loosens_a_promised_target_nor_the_level(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    critical, low = await cell(db, "critical"), await cell(db, "low")
    await inbox.created(T0, severity="critical", level=critical.level,
                        first_response=seconds(critical, "first_response"),
                        resolution=seconds(critical, "resolution"), ack=seconds(critical, "escalation_ack"))
    await inbox.add("ticket.updated", T0 + 5 * M, actor="a", changes={"severity": "low"},
                    classification={"severity": "low", "customer_tier": "standard",
                                    "customer_sensitive": False, "channel": "phone"})
    await inbox.project(p)
    clocks = await inbox.clocks()
    assert clocks.current.due_at("resolution") == T0 + seconds(critical, "resolution")
    [reclassified] = [e for e in clocks.events if e.kind == "reclassified"]
    assert reclassified.details["targets"] == () and "resolution" in reclassified.details["kept"]
    assert [e.trigger_key for e in await escalations(db, inbox.ticket)] == ["matrix"]  # creation only

    # the next cycle (a reopen) gets the new cell's targets: fresh promises
    await inbox.status("resolved", T0 + H)
    await inbox.add("ticket.status_changed", T0 + 2 * H, action="reopened", reopen_count=1)
    await inbox.project(p)
    reopened = (await inbox.clocks()).current
    assert reopened.number == 2
    assert reopened.due_at("resolution") == T0 + 2 * H + seconds(low, "resolution")


async def test_a_tier_change_re_resolves_like_a_severity_change(db) -> None:
    inbox = Inbox(db)
    p = projector(inbox)
    standard, vip = await cell(db, "high"), await cell(db, "high", tier="vip")
    await inbox.created(T0, severity="high", level=standard.level,
                        first_response=seconds(standard, "first_response"),
                        resolution=seconds(standard, "resolution"), ack=seconds(standard, "escalation_ack"))
    await inbox.add("ticket.updated", T0 + 5 * M, actor="a", changes={"customer_tier": "vip"},
                    classification={"severity": "high", "customer_tier": "vip",
                                    "customer_sensitive": False, "channel": "phone"})
    await inbox.project(p)
    expected = min(seconds(standard, "resolution"), seconds(vip, "resolution"))
    assert (await inbox.clocks()).current.due_at("resolution") == T0 + expected


async def test_a_signal_raised_while_its_ticket_is_first_projected_is_applied_not_left_pending(db) -> None:
    """Seen under make run: RaiseSignal ran while the projection of ticket.created was not yet
    committed; it saw no clocks (pending) and the projection had already looked for pending
    signals, so a regulator threat was never applied. The two now take turns per ticket."""


    inbox = Inbox(db)
    p = projector(inbox)
    await inbox.created(T0)
    signal_id = f"sig-{uuid.uuid4()}"
    async with db.session() as projecting:
        await p.project(projecting, after_sequence=inbox.first - 1, limit=1000, clock=ManualClock(T0))
        raised = asyncio.create_task(raise_signal(db, p, inbox.ticket, signal_id, "regulator"))
        for _ in range(500):  # until RaiseSignal waits for the projection (or finished without waiting)
            async with db.engine.connect() as conn:
                waiting = await conn.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
            if waiting or raised.done():
                break
            await asyncio.sleep(0.01)
    await raised
    assert await signal_status(db, signal_id) == ("applied", "")
    assert [(e.trigger_key, e.to_level) for e in await escalations(db, inbox.ticket)] == [("risk_signal:regulator", "L3")]


async def test_the_provisional_sla_view_equals_the_projected_one(db) -> None:
    """Issue #14.2: read-your-writes answers from the ticket's snapshot with the same model."""
    from kefu_escalation.read_models.ticket_sla import ProvisionalSla, ticket_sla

    inbox = Inbox(db)
    now = T0 + 2 * H
    snapshot = ProvisionalSla(level="L0", first_contact_at=T0, sla=sla(OFFICE["name"], first_response=2 * H,
                                                                        resolution=16 * H, next_update=3 * H))
    async with db.session() as session:
        provisional = await ticket_sla(session, inbox.ticket, now=now, provisional=snapshot)
    await inbox.created(T0, calendar=OFFICE["name"], first_response=2 * H, resolution=16 * H, next_update=3 * H)
    await inbox.project(projector(inbox))
    async with db.session() as session:
        projected = await ticket_sla(session, inbox.ticket, now=now, provisional=snapshot)
    assert provisional.provisional and not projected.provisional
    assert [c.clocks for c in provisional.cycles] == [c.clocks for c in projected.cycles]
    assert (provisional.resolve_by, provisional.next_update_by) == (projected.resolve_by, projected.next_update_by)
